import { createHash } from 'node:crypto';

/** Prefix of the Node labels the agents set, one per model whose files are complete in the node's cache. */
export const MODEL_READY_LABEL_PREFIX = 'models.modelctl.dev/';

/** A Kubernetes label name (the part after the prefix): ≤63 chars, alphanumeric at both ends. */
const LABEL_NAME = /^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/;

/**
 * The Node label key saying "model `repo` is ready in this node's cache": `models.modelctl.dev/<org>--<name>`
 * (`--` cannot occur in a repo id, so the key is unambiguous, like huggingface_hub's `models--org--name`).
 * When that is not a valid label name (longer than 63 characters, or a segment starting with `_`), the name is
 * `h-` + the first 20 hex digits of sha256(repo). The agents set it, with the ready commit as the value;
 * `modelctl deploy` selects on its existence.
 */
export function modelReadyLabel(repo: string): string {
  const name = repo.replace('/', '--');
  if (name.length <= 63 && LABEL_NAME.test(name)) return MODEL_READY_LABEL_PREFIX + name;
  return `${MODEL_READY_LABEL_PREFIX}h-${createHash('sha256').update(repo).digest('hex').slice(0, 20)}`;
}
