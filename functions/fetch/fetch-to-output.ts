import { rm } from 'node:fs/promises';
import { resolveModelUri } from '../../shared/mlflow/resolve-model-uri.js';
import type { ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import { downloadPlanned, planMlflowDownload } from './download-mlflow-model.js';
import { sum, type FetchContext, type FetchResult } from './fetch-model.js';
import { publishDirectory, stagingName } from './place-output.js';

/**
 * `emptydir`: resolves the model, downloads it into a staging folder beside `OUTPUT_PATH/model`, then renames
 * it into place, so `OUTPUT_PATH/model` is never a partial model. A failure removes the staging folder.
 */
export async function fetchToOutput(
  ctx: FetchContext,
  uri: Exclude<ModelUri, { kind: 'local' | 'hf' }>,
): Promise<FetchResult> {
  const client = await ctx.mlflow();
  const resolved = await resolveModelUri(client, uri);
  ctx.log.info({ what: resolved.what, artifactUri: resolved.artifactUri }, 'model resolved');
  const plan = await planMlflowDownload({
    client,
    resolved,
    concurrency: ctx.settings.concurrency,
    fileRoots: ctx.settings.fileArtifactRoots,
  });
  const staged = stagingName(ctx.target, 'staging');
  try {
    const files = await downloadPlanned({
      client,
      plan,
      destDir: staged,
      spaceDir: ctx.settings.outputPath,
      concurrency: ctx.settings.concurrency,
      progress: ctx.progress,
      maxBytes: ctx.settings.maxModelBytes,
    });
    await publishDirectory(staged, ctx.target);
    return {
      modelPath: ctx.target,
      realPath: ctx.target,
      source: 'downloaded',
      files: files.length,
      bytes: sum(files),
    };
  } finally {
    await rm(staged, { recursive: true, force: true });
  }
}
