import { AppError } from '../../shared/errors/app-error.js';
import type { KubeConfig } from '../../shared/k8s/load-kube-config.js';
import { readObject } from '../../shared/k8s/apply-object.js';
import { PLAN_CONFIG_MAP_NAME, PLAN_KEY, parsePlan, type Plan, type PlanModel } from '../../shared/plan/plan.js';
import { isLlmRuntime, runtimeOf, type DeployOptions } from './deploy-options.js';
import { modelSourceOf } from './model-source-of.js';
import type { DeployFacts } from './render-service.js';

/** ConfigMap (in the plan namespace) where `make deploy MLFLOW_TRACKING_URI=…` records the tracking URI. */
export const CLUSTER_SETTINGS_CONFIG_MAP = 'modelctl-settings';
/** Its key holding the tracking URI the pods reach MLflow at. */
export const TRACKING_URI_KEY = 'MLFLOW_TRACKING_URI';

/** Reads one ConfigMap's data; null when it does not exist. Injected in tests. */
export type ReadConfigMap = (namespace: string, name: string) => Promise<Record<string, string> | null>;

/** {@link ReadConfigMap} through the API server of `kubeConfig`. */
export function configMapReader(kubeConfig: KubeConfig): ReadConfigMap {
  return async (namespace, name) => {
    const cm = await readObject({ kubeConfig, ref: { apiVersion: 'v1', kind: 'ConfigMap', name, namespace } });
    return cm === null ? null : (((cm as { data?: Record<string, string> }).data ?? {}) as Record<string, string>);
  };
}

/**
 * What rendering needs from outside the flags, in this order of precedence:
 * - MLflow URIs: the tracking URI from `--mlflow-tracking-uri`, else `MLFLOW_TRACKING_URI` of the user's
 *   environment, else the cluster record (ConfigMap modelctl-settings, written by `make deploy`); none of
 *   them is an error that names all three;
 * - hf:// with an LLM runtime: the commit the warm plan resolved for the model (a URI pinned to a 40-hex commit
 *   needs no plan), and the plan's nodeHostPath, cachePath and imageProxy (the models config: one place).
 * `readConfigMap` null means no cluster is reachable (a client dry run without a kubeconfig).
 * @throws AppError TRACKING_URI_MISSING, MODEL_NOT_PLANNED
 */
export async function resolveDeployFacts(params: {
  options: DeployOptions;
  /** MLFLOW_TRACKING_URI of the environment deploy runs in */
  envTrackingUri?: string | undefined;
  readConfigMap: ReadConfigMap | null;
}): Promise<DeployFacts> {
  const { options } = params;
  const source = modelSourceOf(options.modelUri);
  if (source.kind === 'mlflow') {
    return { mlflowTrackingUri: await trackingUri(params) };
  }
  if (!isLlmRuntime(runtimeOf(options))) return {};
  const pinned = /^[0-9a-f]{40}$/.test(source.revision) ? source.revision : null;
  const plan = await readPlanOrNull(params.readConfigMap, options.planNamespace, pinned !== null);
  const facts: DeployFacts = plan
    ? {
        nodeHostPath: plan.settings.nodeHostPath,
        cachePath: plan.settings.cachePath,
        imageProxy: plan.settings.imageProxy,
      }
    : {};
  const model = plan ? findPlanned(plan, source.repo, source.revision) : null;
  if (model !== null) return { ...facts, commit: model.commit ?? undefined, revision: model.revision };
  if (pinned !== null) return { ...facts, commit: pinned, revision: pinned };
  throw notPlanned(source.repo, source.revision, options.planNamespace, plan);
}

async function trackingUri(params: {
  options: DeployOptions;
  envTrackingUri?: string | undefined;
  readConfigMap: ReadConfigMap | null;
}): Promise<string> {
  const given = params.options.mlflowTrackingUri ?? nonEmpty(params.envTrackingUri);
  if (given !== undefined) return checkTrackingUri(given, 'MLFLOW_TRACKING_URI');
  const ns = params.options.planNamespace;
  const data = params.readConfigMap ? await params.readConfigMap(ns, CLUSTER_SETTINGS_CONFIG_MAP) : null;
  const recorded = nonEmpty(data?.[TRACKING_URI_KEY]);
  if (recorded !== undefined) return checkTrackingUri(recorded, `ConfigMap ${ns}/${CLUSTER_SETTINGS_CONFIG_MAP}`);
  throw new AppError({
    code: 'TRACKING_URI_MISSING',
    statusCode: 400,
    message:
      'no MLflow tracking URI for this MLflow model: pass --mlflow-tracking-uri http://…, or set MLFLOW_TRACKING_URI, ' +
      `or record it in the cluster once with \`make deploy MLFLOW_TRACKING_URI=http://…\` (ConfigMap ${ns}/${CLUSTER_SETTINGS_CONFIG_MAP})`,
  });
}

/** The pods reach MLflow at this URI: http(s), no credentials in it (they come from --mlflow-secret). */
function checkTrackingUri(uri: string, from: string): string {
  if (!/^https?:\/\//.test(uri)) {
    throw new AppError({ code: 'INVALID_OPTIONS', statusCode: 400, message: `${from}: must be an http(s) URL` });
  }
  if (/^[a-z][a-z0-9+.-]*:\/\/[^/@]*@/i.test(uri)) {
    throw new AppError({
      code: 'INVALID_OPTIONS',
      statusCode: 400,
      message: `${from}: must not carry user:password@ — put credentials in the Secret named by --mlflow-secret`,
    });
  }
  return uri;
}

function nonEmpty(value: string | undefined): string | undefined {
  return value === undefined || value.trim() === '' ? undefined : value.trim();
}

async function readPlanOrNull(read: ReadConfigMap | null, namespace: string, optional: boolean): Promise<Plan | null> {
  if (read === null) return null;
  let data: Record<string, string> | null;
  try {
    data = await read(namespace, PLAN_CONFIG_MAP_NAME);
  } catch (err) {
    if (optional) return null; // a pinned commit renders without the cluster
    throw err;
  }
  const text = data?.[PLAN_KEY];
  return text === undefined ? null : parsePlan(text);
}

/** The plan's entry for `repo` at `revision` (a branch/tag name, or the commit it resolved to), when resolved ok. */
function findPlanned(plan: Plan, repo: string, wanted: string): PlanModel | null {
  return (
    plan.models.find(
      (m) =>
        m.repo === repo && m.status === 'ok' && m.commit !== null && (m.revision === wanted || m.commit === wanted),
    ) ?? null
  );
}

function notPlanned(repo: string, revision: string, namespace: string, plan: Plan | null): AppError {
  const entry = plan?.models.find((m) => m.repo === repo);
  const why =
    plan === null
      ? `no warm plan (ConfigMap ${namespace}/${PLAN_CONFIG_MAP_NAME}) could be read`
      : entry === undefined
        ? `the warm plan has no ${repo}: add it to the models config`
        : entry.status !== 'ok'
          ? `the warm plan could not resolve ${repo}: ${entry.status}${entry.message ? ` (${entry.message})` : ''}`
          : `the warm plan has ${repo} at revision ${entry.revision}, not ${revision}`;
  return new AppError({
    code: 'MODEL_NOT_PLANNED',
    statusCode: 400,
    message: `hf://${repo}: ${why}; or pin a commit: hf://${repo}@<40-hex commit>`,
  });
}
