import type { NodeLabels } from '../../shared/k8s/node-labels.js';
import { modelReadyLabelKey } from '../../shared/k8s/node-labels.js';
import type { ModelState } from './model-state.js';

/** The Node annotation holding the agent's per-model status (JSON). */
const AGENT_STATUS_ANNOTATION = 'modelctl.dev/agent-status';
const MAX_ERROR_CHARS = 300;

/** What the status annotation says about the node as a whole. */
export interface NodeSummary {
  gpuTypes: string[];
  cacheDir: string;
  freeBytes: number | null;
  /** where the model list came from */
  source: 'plan' | 'configmap' | 'file' | 'none';
  planHash?: string | undefined;
}

/**
 * Publishes the node's warm state in one merge patch: `<prefix>/<model>=ready` for each repo whose every wanted
 * revision is ready, removal of ready labels that no longer hold (including models dropped from the plan), and
 * the `modelctl.dev/agent-status` annotation (each model's state, commit, bytes, last error, timestamps).
 * @returns the ready label keys now set
 */
export async function publishNodeStatus(params: {
  nodes: NodeLabels;
  nodeName: string;
  prefix: string;
  states: readonly ModelState[];
  summary: NodeSummary;
  now: Date;
}): Promise<string[]> {
  const { nodes, nodeName, prefix, states } = params;
  const byRepo = new Map<string, boolean>();
  for (const s of states) byRepo.set(s.repo, (byRepo.get(s.repo) ?? true) && s.state === 'ready');
  const wanted = new Map(
    [...byRepo].filter(([, ready]) => ready).map(([repo]) => [modelReadyLabelKey(repo, prefix), 'ready']),
  );
  const current = await nodes.read(nodeName);
  const labels: Record<string, string | null> = {};
  for (const key of Object.keys(current.labels))
    if (key.startsWith(`${prefix}/`) && !wanted.has(key)) labels[key] = null;
  for (const [key, value] of wanted) if (current.labels[key] !== value) labels[key] = value;
  const status = {
    updatedAt: params.now.toISOString(),
    ...params.summary,
    models: states.map((s) => ({ ...s, ...(s.lastError ? { lastError: s.lastError.slice(0, MAX_ERROR_CHARS) } : {}) })),
  };
  await nodes.patch(nodeName, { labels, annotations: { [AGENT_STATUS_ANNOTATION]: JSON.stringify(status) } });
  return [...wanted.keys()];
}

/** One model being downloaded right now, as the status annotation's `downloading` list shows it. */
export interface DownloadProgress {
  repo: string;
  revision: string;
  bytesDone: number;
  /** bytes of the snapshot's files (0 when not known yet: a models config without plan lists them at download) */
  totalBytes: number;
  bytesPerSecond: number;
}

/**
 * Sets the `downloading` list of the status annotation (per-model bytes done / total and rate) while a pass
 * runs, leaving the labels and the rest of the annotation as the last full report wrote them; the next full
 * report replaces the annotation (nothing downloading then).
 */
export async function publishDownloadProgress(params: {
  nodes: NodeLabels;
  nodeName: string;
  downloading: readonly DownloadProgress[];
  now: Date;
}): Promise<void> {
  const current = await params.nodes.read(params.nodeName);
  let status: Record<string, unknown> = {};
  try {
    const parsed: unknown = JSON.parse(current.annotations[AGENT_STATUS_ANNOTATION] ?? '{}');
    if (parsed !== null && typeof parsed === 'object' && !Array.isArray(parsed))
      status = parsed as Record<string, unknown>;
  } catch {
    status = {};
  }
  const next = { ...status, progressAt: params.now.toISOString(), downloading: params.downloading };
  await params.nodes.patch(params.nodeName, { annotations: { [AGENT_STATUS_ANNOTATION]: JSON.stringify(next) } });
}
