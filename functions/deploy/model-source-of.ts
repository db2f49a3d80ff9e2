import { AppError } from '../../shared/errors/app-error.js';
import { parseModelUri, type ModelUri } from '../../shared/mlflow/parse-model-uri.js';

/** Where a model comes from, as far as the Service's shape is concerned. */
export type ModelSource =
  /** MLflow: `models:/…`, `runs:/…`, `mlflow-artifacts:/…` — fetched from the tracking server (or the PVC cache) */
  | { kind: 'mlflow'; uri: string }
  /** Hugging Face: `hf://[org/]name[@revision]` — read from the node's warm cache (hostPath); revision @default main */
  | { kind: 'hf'; uri: string; repo: string; revision: string };

const ACCEPTED =
  'expected models:/<name>/<version|stage>, models:/<name>@<alias>, models:/m-<id>, runs:/<run>/<path>, ' +
  'mlflow-artifacts:/<path> or hf://<org>/<name>[@<revision>]';

/**
 * Classifies `--model-uri` for rendering, by the one model-URI grammar (shared/mlflow/parse-model-uri.ts, the
 * grammar fetch runs in the pod): deploy accepts no URI that fetch would then refuse. A local path is refused:
 * a pod cannot read the deployer's disk.
 * @throws AppError `INVALID_MODEL_URI` naming what is wrong and which forms are accepted
 */
export function modelSourceOf(uri: string): ModelSource {
  const parsed = parseOrThrow(uri);
  if (parsed.kind === 'hf') return { kind: 'hf', uri, repo: parsed.repo, revision: parsed.revision };
  if (parsed.kind === 'local') throw invalidModelUri(uri, 'a local path is on this machine, not in the pod');
  return { kind: 'mlflow', uri };
}

function parseOrThrow(uri: string): ModelUri {
  try {
    return parseModelUri(uri);
  } catch (err) {
    throw invalidModelUri(uri, (err as Error).message, err);
  }
}

function invalidModelUri(uri: string, why: string, cause?: unknown): AppError {
  return new AppError({
    code: 'INVALID_MODEL_URI',
    statusCode: 400,
    message: `--model-uri ${JSON.stringify(uri)}: ${why}; ${ACCEPTED}`,
    cause,
  });
}
