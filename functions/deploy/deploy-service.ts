import { stringify } from 'yaml';
import { AppError } from '../../shared/errors/app-error.js';
import type { KubeConfig } from '../../shared/k8s/load-kube-config.js';
import { applyObject, readObject, type ApplyResult } from '../../shared/k8s/apply-object.js';
import type { DeployOptions } from './deploy-options.js';
import { renderService, type RenderedObject } from './render-service.js';
import { configMapReader, resolveDeployFacts, type ReadConfigMap } from './resolve-deploy-facts.js';
import { warnIfNoReadyNode } from './warn-no-ready-node.js';
import { waitForReady } from './wait-for-ready.js';

/** The field manager `modelctl deploy` applies with (visible in `managedFields`). */
const FIELD_MANAGER = 'modelctl';

/** How `modelctl deploy` runs, besides what to render. */
export interface DeployMode {
  /** `client`: print the rendered Service only; `server`: apply as a server-side dry run; false: apply */
  dryRun: 'client' | 'server' | false;
  /** print the (rendered or applied) Service in this format */
  output?: 'yaml' | 'json' | undefined;
  /** wait until Ready for at most this long, then print the URL */
  waitTimeoutMs?: number | undefined;
  /** @default 'modelctl' */
  fieldManager?: string | undefined;
  /** take over fields another manager owns */
  forceConflicts?: boolean | undefined;
}

/**
 * `modelctl deploy`: renders the model's Knative Service and, unless it is a client dry run, applies it with
 * server-side apply, reports what changed and optionally waits for Ready.
 * 1. render (pure) — a client dry run prints it and stops;
 * 2. for the pvc strategy, check the cache PVC exists in the target namespace;
 * 3. apply (server-side, field manager `modelctl`), print created/configured/unchanged and the changed paths;
 * 4. wait for Ready and print the URL.
 */
export async function deployService(params: {
  options: DeployOptions;
  mode: DeployMode;
  /** called only when the cluster is needed */
  kubeConfig: () => KubeConfig;
  /** receives each line or document to print (stdout) */
  write: (text: string) => void;
  /** MLFLOW_TRACKING_URI of the user's environment (used when --mlflow-tracking-uri is absent) */
  envTrackingUri?: string | undefined;
  /** receives warnings (stderr) */
  warn?: (text: string) => void;
  /** injected in tests */
  sleep?: (ms: number) => Promise<void>;
}): Promise<ApplyResult | null> {
  const clientOnly = params.mode.dryRun === 'client';
  const service = await renderWithFacts(params, clientOnly);
  if (clientOnly) {
    params.write(formatObject(service, params.mode.output ?? 'yaml'));
    return null;
  }
  const kubeConfig = params.kubeConfig();
  await checkBeforeApply(kubeConfig, params.options, params.warn);
  const result = await applyObject({
    kubeConfig,
    object: service,
    fieldManager: params.mode.fieldManager ?? FIELD_MANAGER,
    dryRun: params.mode.dryRun === 'server',
    force: params.mode.forceConflicts ?? false,
  });
  if (params.mode.output) params.write(formatObject(result.object, params.mode.output));
  else params.write(describeResult(service, result, params.mode.dryRun === 'server'));
  if (params.mode.waitTimeoutMs !== undefined && params.mode.dryRun === false) {
    const url = await waitForReady({
      kubeConfig,
      ref: {
        apiVersion: service.apiVersion,
        kind: service.kind,
        name: service.metadata.name,
        namespace: params.options.namespace,
      },
      timeoutMs: params.mode.waitTimeoutMs,
      ...(params.sleep ? { sleep: params.sleep } : {}),
    });
    params.write(`${service.metadata.name} is ready: ${url}`);
  }
  return result;
}

/** 2. The PVC a pvc strategy needs must exist; an hf:// model no node has warm is worth a warning. */
async function checkBeforeApply(
  kubeConfig: KubeConfig,
  options: DeployOptions,
  warn: ((text: string) => void) | undefined,
): Promise<void> {
  await warnIfNoReadyNode({ kubeConfig, options, warn: warn ?? (() => undefined) });
  if (options.storage === 'pvc') await assertCachePvcExists(kubeConfig, options);
}

/** 1. What the flags leave out (tracking URI, warm plan), then the pure render. */
async function renderWithFacts(
  params: { options: DeployOptions; envTrackingUri?: string | undefined; kubeConfig: () => KubeConfig },
  clientOnly: boolean,
): Promise<RenderedObject> {
  const facts = await resolveDeployFacts({
    options: params.options,
    envTrackingUri: params.envTrackingUri,
    readConfigMap: clusterReader(params.kubeConfig, clientOnly),
  });
  return renderService(params.options, facts);
}

/**
 * Reads the cluster's ConfigMaps. A client dry run works without a cluster: there, an unreachable or missing
 * kubeconfig reads as "nothing recorded" instead of failing.
 */
function clusterReader(kubeConfig: () => KubeConfig, clientOnly: boolean): ReadConfigMap | null {
  if (!clientOnly) return (ns, name) => configMapReader(kubeConfig())(ns, name);
  let read: ReadConfigMap;
  try {
    read = configMapReader(kubeConfig());
  } catch {
    return null;
  }
  return (ns, name) => read(ns, name).catch(() => null);
}

/** `service.serving.knative.dev/my-model configured` and one `  ~ path` line per changed field. */
function describeResult(service: RenderedObject, result: ApplyResult, serverDryRun: boolean): string {
  const group = service.apiVersion.split('/')[0];
  const head = `${service.kind.toLowerCase()}.${group}/${service.metadata.name} ${result.action}${serverDryRun ? ' (server dry run)' : ''}`;
  return [head, ...result.changes.map((path) => `  ~ ${path}`)].join('\n');
}

/** YAML (a `---`-free single document) or indented JSON. */
function formatObject(object: unknown, format: 'yaml' | 'json'): string {
  if (format === 'json') return JSON.stringify(object, null, 2);
  // no anchors/aliases: kubectl and humans read it
  return stringify(object, { lineWidth: 0, aliasDuplicateObjects: false }).trimEnd();
}

async function assertCachePvcExists(kubeConfig: KubeConfig, options: DeployOptions): Promise<void> {
  const pvc = await readObject({
    kubeConfig,
    ref: { apiVersion: 'v1', kind: 'PersistentVolumeClaim', name: options.cachePvc, namespace: options.namespace },
  });
  if (pvc !== null) return;
  throw new AppError({
    code: 'CACHE_PVC_MISSING',
    statusCode: 404,
    message:
      `--storage pvc: PersistentVolumeClaim ${options.namespace}/${options.cachePvc} does not exist. ` +
      `A pod can mount only a PVC of its own namespace: deploy into the namespace that holds the shared cache ` +
      `(\`make deploy\` creates modelctl-model-cache in modelctl-system) or pass --cache-pvc <name>`,
  });
}
