import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import { createRepo, type FileSource, type RepoState } from '../hub-server/repo-store.js';
import { modelReadyLabelKey } from '../../shared/k8s/node-labels.js';
import { REPO_ROOT, getJson, kubectl, waitFor, waitReady } from './cluster.js';
import { installModelctl } from './mlflow.js';

/**
 * The Hugging Face Hub stand-in in the cluster (testkit/e2e/manifests/hub.yaml) and modelctl's warm path pointed at it:
 * repos written on the node's disk, HF_ENDPOINT on the agent and warm, the models ConfigMap edited as a user does,
 * and the waits for what follows (the plan, the Node's ready label). Used by warm-agent.e2e.ts and runtimes.e2e.ts.
 */
export const HUB_NS = 'modelctl-e2e-hub';
/** the stand-in's repo store on the node (hostPath of the hub pod); this single-node cluster's node is this machine */
const HUB_REPOS_DIR = '/var/lib/modelctl-e2e/hub-repos';
/** HF_ENDPOINT as pods reach the stand-in (config/e2e sets it on warm and the agent) */
const HF_ENDPOINT_IN_CLUSTER = `http://hub.${HUB_NS}.svc.cluster.local:8900`;
export const SYSTEM_NS = 'modelctl-system';
const MODELS_CONFIG_MAP = 'modelctl-models';
const PLAN_CONFIG_MAP = 'modelctl-plan';

/** Applies the stand-in's Deployment + Service and waits for it; returns its admin API base (through the ClusterIP). */
export async function startHubInCluster(): Promise<string> {
  await mkdir(HUB_REPOS_DIR, { recursive: true });
  await kubectl('apply', '-f', path.join(REPO_ROOT, 'testkit', 'e2e', 'manifests', 'hub.yaml'));
  await kubectl('-n', HUB_NS, 'rollout', 'status', 'deployment/hub', '--timeout=180s');
  const svc = await getJson<{ spec: { clusterIP: string } }>('service', 'hub', '-n', HUB_NS);
  return `http://${svc.spec.clusterIP}:8900/_admin`;
}

/** Creates (or replaces) a repo on the stand-in, on branch main. */
export async function putHubRepo(repo: string, files: Record<string, FileSource>): Promise<RepoState> {
  return createRepo({ root: HUB_REPOS_DIR, repo, files });
}

/** The commit `main` points at in a repo state. */
export function mainCommit(state: RepoState): string {
  const sha = state.branches.main;
  if (!sha) throw new Error(`repo ${state.id} has no main branch`);
  return sha;
}

/**
 * Makes sure modelctl is installed with the e2e overlay (`make deploy ENV=e2e`: warm and the agent DaemonSet get
 * HF_ENDPOINT = the stand-in, config/e2e) and waits until both run with it: installs when anything else is there.
 */
export async function pointModelctlAtHub(): Promise<void> {
  const endpointOf = (o: {
    spec: { template: { spec: { containers: { env?: { name: string; value?: string }[] }[] } } };
  }) => o.spec.template.spec.containers[0]?.env?.find((e) => e.name === 'HF_ENDPOINT')?.value;
  type WithEnv = Parameters<typeof endpointOf>[0];
  const agent = await getJson<WithEnv>('daemonset', 'modelctl-agent', '-n', SYSTEM_NS).catch(() => undefined);
  const warm = await getJson<WithEnv>('ksvc', 'modelctl-warm', '-n', SYSTEM_NS).catch(() => undefined);
  if (!agent || !warm || endpointOf(agent) !== HF_ENDPOINT_IN_CLUSTER || endpointOf(warm) !== HF_ENDPOINT_IN_CLUSTER) {
    await installModelctl();
  }
  await kubectl('-n', SYSTEM_NS, 'rollout', 'status', 'daemonset/modelctl-agent', '--timeout=240s');
  await waitFor('modelctl-warm Ready with HF_ENDPOINT', async () => {
    const ksvc = await getJson<
      WithEnv & {
        metadata: { generation: number };
        status: { observedGeneration?: number; conditions?: { type: string; status: string }[] };
      }
    >('ksvc', 'modelctl-warm', '-n', SYSTEM_NS);
    const ready = ksvc.status.conditions?.find((c) => c.type === 'Ready')?.status === 'True';
    const current = ksvc.status.observedGeneration === ksvc.metadata.generation;
    return ready && current && endpointOf(ksvc) === HF_ENDPOINT_IN_CLUSTER ? true : undefined;
  });
  await waitReady('apiserversource', SYSTEM_NS, 'modelctl-models');
}

/** The models ConfigMap's yaml as it is now. */
export async function readModelsYaml(): Promise<string> {
  const cm = await getJson<{ data: Record<string, string> }>('configmap', MODELS_CONFIG_MAP, '-n', SYSTEM_NS);
  return cm.data['models.yaml'] ?? '';
}

/** The dev overlay's models config (config/dev/models.yaml) with `models` replaced. */
export function devModelsYaml(base: string, models: Record<string, unknown>): string {
  const config = parse(base) as Record<string, unknown>;
  return stringify({ ...config, models });
}

/** Edits the models ConfigMap as a user does (`kubectl patch`/`edit`): the ApiServerSource sees an update. */
export async function editModelsConfig(yamlText: string): Promise<void> {
  await kubectl(
    'patch',
    'configmap',
    MODELS_CONFIG_MAP,
    '-n',
    SYSTEM_NS,
    '--type=merge',
    '-p',
    JSON.stringify({ data: { 'models.yaml': yamlText } }),
  );
}

export interface PlannedModel {
  repo: string;
  revision: string;
  commit: string | null;
  status: string;
  message?: string;
  files: { path: string; size: number }[];
}
export interface PublishedPlan {
  settings: { nodeHostPath: string; cachePath: string };
  models: PlannedModel[];
}

/** The published plan (ConfigMap modelctl-plan), or undefined when none is. */
export async function readPlan(): Promise<PublishedPlan | undefined> {
  const cm = await getJson<{ data?: Record<string, string> }>('configmap', PLAN_CONFIG_MAP, '-n', SYSTEM_NS).catch(
    () => undefined,
  );
  const text = cm?.data?.['plan.json'];
  return text === undefined ? undefined : (JSON.parse(text) as PublishedPlan);
}

/** Waits until the plan resolves `repo` to `commit` with status ok; returns the plan. */
export async function waitForPlanned(repo: string, commit: string, timeoutMs = 240_000): Promise<PublishedPlan> {
  return waitFor(
    `the plan to resolve ${repo} to ${commit}`,
    async () => {
      const plan = await readPlan();
      const m = plan?.models.find((x) => x.repo === repo);
      return m?.status === 'ok' && m.commit === commit ? plan : undefined;
    },
    {
      timeoutMs,
      intervalMs: 500,
      describe: async () =>
        `${JSON.stringify(await readPlan())}\n${await kubectl('get', 'events', '-n', SYSTEM_NS, '--sort-by=.lastTimestamp')}`,
    },
  );
}

/** The Node label the agent sets once `repo` is complete in the node cache. */
export function readyLabel(repo: string): string {
  return modelReadyLabelKey(repo);
}

/** Waits until a Node carries `repo`'s ready label; returns the node's name. */
export async function waitForReadyNode(repo: string, timeoutMs = 300_000): Promise<string> {
  const key = readyLabel(repo);
  return waitFor(
    `a Node labelled ${key}=ready`,
    async () => {
      const nodes = await getJson<{ items: { metadata: { name: string; labels?: Record<string, string> } }[] }>(
        'nodes',
      );
      return nodes.items.find((n) => n.metadata.labels?.[key] === 'ready')?.metadata.name;
    },
    {
      timeoutMs,
      intervalMs: 500,
      describe: async () =>
        `${await kubectl('logs', '-n', SYSTEM_NS, 'daemonset/modelctl-agent', '--tail=40')}\n` +
        (await kubectl('get', 'nodes', '--show-labels')),
    },
  );
}
