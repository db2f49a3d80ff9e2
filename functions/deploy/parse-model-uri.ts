import { repoIdProblem } from '../../shared/config/models-config.js';
import { AppError } from '../../shared/errors/app-error.js';

/** Where a model comes from, as far as the Service's shape is concerned. */
export type ModelSource =
  /** MLflow: `models:/…`, `runs:/…`, `mlflow-artifacts:/…` — fetched from the tracking server (or the PVC cache) */
  | { kind: 'mlflow'; uri: string }
  /** Hugging Face: `hf://org/name[@revision]` — read from the node's warm cache (hostPath) */
  | { kind: 'hf'; uri: string; repo: string; revision: string | null };

const MLFLOW_SCHEMES = ['models:', 'runs:', 'mlflow-artifacts:'];

/**
 * Classifies a model URI for rendering. `hf://` URIs must name a valid `<org>/<name>` repo.
 * @throws AppError `INVALID_MODEL_URI` naming what is wrong and which forms are accepted
 */
export function parseModelUri(uri: string): ModelSource {
  if (uri.startsWith('hf://')) return parseHfUri(uri);
  if (MLFLOW_SCHEMES.some((scheme) => uri.startsWith(scheme))) return { kind: 'mlflow', uri };
  throw new AppError({
    code: 'INVALID_MODEL_URI',
    statusCode: 400,
    message: `--model-uri ${JSON.stringify(uri)}: expected models:/<name>/<version|stage>, models:/<name>@<alias>, runs:/<run>/<path>, mlflow-artifacts:/<path> or hf://<org>/<name>[@<revision>]`,
  });
}

function parseHfUri(uri: string): ModelSource {
  const rest = uri.slice('hf://'.length);
  const at = rest.indexOf('@');
  const repo = at === -1 ? rest : rest.slice(0, at);
  const revision = at === -1 ? null : rest.slice(at + 1);
  const problem = repoIdProblem(repo) ?? (revision === '' ? 'revision after "@" is empty' : null);
  if (problem) {
    throw new AppError({
      code: 'INVALID_MODEL_URI',
      statusCode: 400,
      message: `--model-uri ${JSON.stringify(uri)}: ${problem}`,
    });
  }
  return { kind: 'hf', uri, repo, revision };
}
