import { createHash } from 'node:crypto';
import type { V1Node } from '@kubernetes/client-node';
import type { KubeRest } from './kube-rest.js';
import { kubeRestError } from './kube-status-error.js';

/** Default prefix of the per-model ready labels (`models.modelctl.dev/<name>=ready`). */
const DEFAULT_READY_LABEL_PREFIX = 'models.modelctl.dev';

/** A Kubernetes label name (the part after the prefix): ≤63 chars, alphanumeric at both ends. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * The Node label key saying "model `repo` is complete in this node's cache", within label limits:
 * `<prefix>/<org>--<name>` when that is a valid label name (≤63 characters), else `<prefix>/h-` + the first 20 hex
 * digits of sha256(repo) (a short hash of the model). The agent sets it to `ready`; serving pods require or prefer
 * nodes where it exists. Same algorithm as `modelctl deploy`'s selector (functions/deploy/model-ready-label.ts).
 */
export function modelReadyLabelKey(repo: string, prefix: string = DEFAULT_READY_LABEL_PREFIX): string {
  const name = repo.replace('/', '--');
  if (name.length <= 63 && LABEL_NAME.test(name)) return `${prefix}/${name}`;
  return `${prefix}/h-${createHash('sha256').update(repo).digest('hex').slice(0, 20)}`;
}

/** A Node's identity and metadata, as the agent needs it. */
export interface NodeMeta {
  name: string;
  uid?: string | undefined;
  labels: Record<string, string>;
  annotations: Record<string, string>;
}

/** Label/annotation changes: a string sets, null removes. */
export interface NodeMetaPatch {
  labels?: Record<string, string | null>;
  annotations?: Record<string, string | null>;
}

/** Reads and patches one Node's labels and annotations (the agent's only Node permissions: get, patch). */
export interface NodeLabels {
  read(name: string): Promise<NodeMeta>;
  /** JSON merge patch of metadata.labels / metadata.annotations only */
  patch(name: string, patch: NodeMetaPatch): Promise<NodeMeta>;
}

/** {@link NodeLabels} backed by the API server `rest` points at (no client-node: the agent keeps it for days). */
export function createNodeLabels(rest: KubeRest): NodeLabels {
  const nodePath = (name: string): string => `/api/v1/nodes/${encodeURIComponent(name)}`;
  return {
    async read(name) {
      try {
        const node = await rest.request<V1Node>({ path: nodePath(name) });
        return toMeta(name, node.metadata);
      } catch (err) {
        throw kubeRestError(err, `get Node ${name}`);
      }
    },
    async patch(name, patch) {
      const metadata: Record<string, unknown> = {};
      if (patch.labels && Object.keys(patch.labels).length > 0) metadata.labels = patch.labels;
      if (patch.annotations && Object.keys(patch.annotations).length > 0) metadata.annotations = patch.annotations;
      try {
        const node = await rest.request<V1Node>({
          method: 'PATCH',
          path: nodePath(name),
          body: { metadata },
          contentType: 'application/merge-patch+json',
        });
        return toMeta(name, node.metadata);
      } catch (err) {
        throw kubeRestError(err, `patch Node ${name}`);
      }
    },
  };
}

function toMeta(
  name: string,
  meta: { uid?: string; labels?: Record<string, string>; annotations?: Record<string, string> } | undefined,
): NodeMeta {
  return { name, uid: meta?.uid, labels: meta?.labels ?? {}, annotations: meta?.annotations ?? {} };
}
