import { z } from 'zod';
import { redactSecrets } from '../log/create-logger.js';
import type { MlflowClient } from './mlflow-client.js';
import { MlflowError } from './mlflow-error.js';
import { proxyPathOf, type ModelUri } from './parse-model-uri.js';

/** Where a model URI's files are, as the tracking server said. */
export interface ResolvedModel {
  /** the artifact location: `mlflow-artifacts:/…`, `file:///…`, `s3://…` */
  artifactUri: string;
  /** the request in words, for messages: `version 3 of model "iris"` */
  what: string;
  name?: string;
  version?: string;
  /** true when the URI always means the same files (a version number, a logged model, a run path) */
  immutable: boolean;
}

const DownloadUri = z.object({ artifact_uri: z.string().min(1) });
const ModelVersion = z.object({ name: z.string(), version: z.string(), current_stage: z.string().optional() });
const LatestVersions = z.object({ model_versions: z.array(ModelVersion).default([]) });
const AliasAnswer = z.object({ model_version: ModelVersion });
const LoggedModel = z.object({ model: z.object({ info: z.object({ artifact_uri: z.string().min(1) }) }) });
const RunAnswer = z.object({
  run: z.object({ info: z.object({ artifact_uri: z.string().min(1), experiment_id: z.string().optional() }) }),
});
const LoggedModelSearch = z.object({
  models: z
    .array(z.object({ info: z.object({ model_id: z.string(), name: z.string(), artifact_uri: z.string().min(1) }) }))
    .default([]),
});

const API = '/api/2.0/mlflow';

/**
 * Asks the tracking server where a `models:/…`, `runs:/…` or `mlflow-artifacts:/…` URI's files are.
 * Stages are matched case-insensitively; `latest` is the highest version in any stage.
 * @throws MlflowError MODEL_NOT_FOUND naming the model/version/alias/stage when it does not exist
 */
export async function resolveModelUri(
  client: MlflowClient,
  uri: Exclude<ModelUri, { kind: 'local' | 'hf' }>,
): Promise<ResolvedModel> {
  switch (uri.kind) {
    case 'registry-version':
      return resolveVersion(client, uri.name, uri.version, true);
    case 'registry-stage':
      return resolveVersion(client, uri.name, await versionInStage(client, uri.name, uri.stage), false);
    case 'registry-alias':
      return resolveVersion(client, uri.name, await versionOfAlias(client, uri.name, uri.alias), false);
    case 'logged-model':
      return resolveLoggedModel(client, uri.modelId);
    case 'run':
      return resolveRun(client, uri.runId, uri.artifactPath);
    case 'mlflow-artifacts':
      return {
        artifactUri: `mlflow-artifacts:/${uri.artifactPath}`,
        what: `artifacts at ${uri.artifactPath}`,
        immutable: true,
      };
  }
}

async function resolveVersion(
  client: MlflowClient,
  name: string,
  version: string,
  immutable: boolean,
): Promise<ResolvedModel> {
  const what = `version ${version} of model "${name}"`;
  const answer = await client.getJson({
    path: `${API}/model-versions/get-download-uri`,
    query: { name, version },
    schema: DownloadUri,
    what,
  });
  return { artifactUri: answer.artifact_uri, what, name, version, immutable };
}

async function versionInStage(client: MlflowClient, name: string, stage: string): Promise<string> {
  const latest = stage.toLowerCase() === 'latest';
  const what = latest ? `the latest version of model "${name}"` : `the ${stage} version of model "${name}"`;
  const answer = await client.postJson({
    path: `${API}/registered-models/get-latest-versions`,
    body: latest ? { name } : { name, stages: [canonicalStage(stage)] },
    schema: LatestVersions,
    what,
  });
  const versions = answer.model_versions
    .filter((v) => latest || v.current_stage?.toLowerCase() === stage.toLowerCase())
    .map((v) => Number(v.version))
    .sort((a, b) => b - a);
  if (versions[0] === undefined) {
    throw new MlflowError({
      code: 'MODEL_NOT_FOUND',
      message: `${what} not found on MLflow at ${client.origin}: no version is in stage ${stage}; check MODEL_URI`,
    });
  }
  return String(versions[0]);
}

/** MLflow's stage names: None, Staging, Production, Archived. */
function canonicalStage(stage: string): string {
  const known = ['None', 'Staging', 'Production', 'Archived'];
  return known.find((k) => k.toLowerCase() === stage.toLowerCase()) ?? stage;
}

async function versionOfAlias(client: MlflowClient, name: string, alias: string): Promise<string> {
  const answer = await client.getJson({
    path: `${API}/registered-models/alias`,
    query: { name, alias },
    schema: AliasAnswer,
    what: `alias "${alias}" of model "${name}"`,
  });
  return answer.model_version.version;
}

async function resolveLoggedModel(client: MlflowClient, modelId: string): Promise<ResolvedModel> {
  const what = `logged model ${modelId}`;
  const answer = await client.getJson({
    path: `${API}/logged-models/${encodeURIComponent(modelId)}`,
    schema: LoggedModel,
    what,
  });
  return { artifactUri: answer.model.info.artifact_uri, what, immutable: true };
}

/**
 * `runs:/<run>/<path>`, as MLflow 3 resolves it: a model logged in that run under the name `<path>` (an MLflow 3
 * logged model, stored outside the run's artifacts) wins; else the run's own artifacts at `<path>` (MLflow 2).
 */
async function resolveRun(client: MlflowClient, runId: string, artifactPath: string): Promise<ResolvedModel> {
  const answer = await client.getJson({
    path: `${API}/runs/get`,
    query: { run_id: runId },
    schema: RunAnswer,
    what: `run ${runId}`,
  });
  const logged = await loggedModelOfRun(client, runId, artifactPath, answer.run.info.experiment_id);
  if (logged !== null)
    return {
      artifactUri: logged.artifact_uri,
      what: `model "${artifactPath}" of run ${runId} (${logged.model_id})`,
      immutable: true,
    };
  const root = answer.run.info.artifact_uri.replace(/\/+$/, '');
  return {
    artifactUri: artifactPath === '' ? root : `${root}/${artifactPath}`,
    what: `artifacts "${artifactPath}" of run ${runId}`,
    immutable: true,
  };
}

/** The run's logged model named `name`, or null (none, a name a filter cannot quote, or a server before MLflow 3). */
async function loggedModelOfRun(
  client: MlflowClient,
  runId: string,
  name: string,
  experimentId: string | undefined,
): Promise<{ model_id: string; artifact_uri: string } | null> {
  if (experimentId === undefined || name === '' || /['"\\]/.test(name)) return null;
  const found = await client.tryPostJson({
    path: `${API}/logged-models/search`,
    body: {
      experiment_ids: [experimentId],
      filter: `source_run_id = '${runId}' AND name = '${name}'`,
      max_results: 2,
    },
    schema: LoggedModelSearch,
    what: `models logged by run ${runId}`,
  });
  // servers without logged models (MLflow 2) refuse the search (404); the run's own artifacts are then the answer
  if (!found.ok) return null;
  const [only, ...more] = found.data.models.filter((m) => m.info.name === name);
  return only !== undefined && more.length === 0 ? only.info : null;
}

/** How to read an artifact location: through the tracking server's proxy, or a folder on this machine. */
export type ArtifactLocation = { kind: 'proxy'; proxyPath: string } | { kind: 'local'; dir: string };

/**
 * Maps an artifact URI to how we read it.
 * @throws MlflowError ARTIFACT_STORE_UNSUPPORTED for stores the proxy does not serve (s3://, gs://, …),
 *   saying how to enable the proxy
 */
export function artifactLocation(resolved: ResolvedModel, origin: string): ArtifactLocation {
  const uri = resolved.artifactUri;
  if (uri.startsWith('mlflow-artifacts:')) return { kind: 'proxy', proxyPath: proxyPathOf(uri) };
  if (uri.startsWith('file://')) return { kind: 'local', dir: new URL(uri).pathname };
  if (uri.startsWith('/')) return { kind: 'local', dir: uri };
  const scheme = uri.slice(0, Math.max(0, uri.indexOf(':')));
  throw new MlflowError({
    code: 'ARTIFACT_STORE_UNSUPPORTED',
    message:
      `the files of ${resolved.what} are stored at ${redactSecrets(uri)}, which the tracking server at ${origin} does not ` +
      `proxy. modelctl reads artifacts only through the proxy: run the server with --serve-artifacts ` +
      `--artifacts-destination ${scheme}://<bucket>/<path> and log models with the default mlflow-artifacts:/ ` +
      `artifact root (or re-register the model from such a run)`,
  });
}
