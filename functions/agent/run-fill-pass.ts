import type { LimitFunction } from 'p-limit';
import type { Dispatcher } from 'undici';
import { isAppError } from '../../shared/errors/app-error.js';
import type { DiskGuard } from '../../shared/disk/disk-guard.js';
import { downloadSnapshot } from '../../shared/hub/download-snapshot.js';
import { isPermanentHubError } from '../../shared/hub/hub-error.js';
import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import type { HubRetryPolicy } from '../../shared/hub/with-hub-retry.js';
import { redactSecrets, type Logger } from '../../shared/log/create-logger.js';
import type { AgentMetrics } from './agent-metrics.js';
import type { ModelState } from './model-state.js';
import type { FillTarget } from './fill-target.js';

/** What a fill pass needs: where, from which Hub, with which limits. */
export interface FillContext {
  access: HubAccess;
  cacheDir: string;
  stateDir: string;
  diskGuard: DiskGuard;
  /** bounds the files downloaded at once across all models */
  limit: LimitFunction;
  dispatcher?: Dispatcher | undefined;
  retry?: HubRetryPolicy | undefined;
  metrics?: AgentMetrics | undefined;
  /** re-hash what is on disk (the periodic check) */
  verifyHashes?: boolean | undefined;
  signal?: AbortSignal | undefined;
  log: Logger;
  /** injected in tests @default () => new Date() */
  now?: () => Date;
  /** bytes received for a model so far in this pass (per-model progress in the node status) */
  onModelBytes?: ((target: FillTarget, bytesSoFar: number, elapsedSeconds: number) => void) | undefined;
}

/**
 * The agent's fill pass (the `warm` role is another thing: it publishes the plan; the pass's log lines keep their
 * "warm pass" wording). Brings each target to ready in the node's cache, one model after the other (files of a
 * model in parallel): the disk guard is checked before each model, a model that fails (gated, missing, no space, Hub down past the retries) is
 * reported and the others continue. Called again, it re-verifies and repairs what is on disk.
 * @param onState called after each model (publish status as it goes)
 * @returns one state per target, in order
 */
export async function runFillPass(
  ctx: FillContext,
  targets: readonly FillTarget[],
  onState?: (state: ModelState) => Promise<void> | void,
): Promise<ModelState[]> {
  const states: ModelState[] = [];
  for (const target of targets) {
    if (ctx.signal?.aborted) break;
    const state = await fillOne(ctx, target);
    states.push(state);
    await onState?.(state);
  }
  return states;
}

async function fillOne(ctx: FillContext, target: FillTarget): Promise<ModelState> {
  const log = ctx.log.child({ repo: target.repo, revision: target.revision });
  const started = performance.now();
  const now = (ctx.now ?? (() => new Date()))().toISOString();
  let received = 0;
  try {
    const result = await downloadSnapshot({
      access: ctx.access,
      cacheDir: ctx.cacheDir,
      stateDir: ctx.stateDir,
      repo: target.repo,
      revision: target.revision,
      commit: target.commit,
      files: target.files,
      filesAreComplete: target.filesAreComplete,
      allowPatterns: target.allowPatterns,
      ignorePatterns: target.ignorePatterns,
      limit: ctx.limit,
      diskGuard: ctx.diskGuard,
      dispatcher: ctx.dispatcher,
      retry: ctx.retry,
      verifyHashes: ctx.verifyHashes,
      signal: ctx.signal,
      onBytes: (n) => {
        ctx.metrics?.downloadBytes.inc(n);
        received += n;
        ctx.onModelBytes?.(target, received, (performance.now() - started) / 1000);
      },
      log,
    });
    const seconds = (performance.now() - started) / 1000;
    if (result.downloadedFiles > 0) ctx.metrics?.downloadDuration.observe({ outcome: 'ready' }, seconds);
    log.info(
      {
        commit: result.commit,
        files: result.files,
        bytes: result.bytes,
        downloadedFiles: result.downloadedFiles,
        networkBytes: result.networkBytes,
        resumedBytes: result.resumedBytes,
        ms: Math.round(seconds * 1000),
      },
      'model ready',
    );
    return {
      repo: target.repo,
      revision: target.revision,
      commit: result.commit,
      state: 'ready',
      bytes: result.bytes,
      files: result.files,
      updatedAt: now,
      readyAt: now,
    };
  } catch (err) {
    const seconds = (performance.now() - started) / 1000;
    ctx.metrics?.downloadDuration.observe({ outcome: 'failed' }, seconds);
    return failedState({ target, err, now, log, metrics: ctx.metrics });
  }
}

/** A failure's stable code, its message without secrets, and whether retrying before a change is pointless. */
function describeFailure(err: unknown): { code: string; message: string; permanent: boolean } {
  const code = isAppError(err) ? err.code : 'DOWNLOAD_FAILED';
  const message = redactSecrets(err instanceof Error ? err.message : String(err));
  const permanent = isPermanentHubError(err) || code === 'UNSAFE_REPO_PATH' || code === 'NO_FILES_MATCH';
  return { code, message, permanent };
}

function failedState(args: {
  target: FillTarget;
  err: unknown;
  now: string;
  log: Logger;
  metrics: AgentMetrics | undefined;
}): ModelState {
  const { target, err } = args;
  const { code, message, permanent } = describeFailure(err);
  args.metrics?.failures.inc({ code });
  // Logged once, here at the agent's boundary.
  args.log.error({ code, permanent, err }, code === 'NO_SPACE' ? 'model skipped: disk guard' : 'model failed');
  return {
    repo: target.repo,
    revision: target.revision,
    commit: target.commit ?? null,
    state: code === 'NO_SPACE' ? 'skipped' : 'failed',
    bytes: target.files?.reduce((s, f) => s + f.size, 0) ?? 0,
    files: target.files?.length ?? 0,
    errorCode: code,
    lastError: message,
    permanent,
    updatedAt: args.now,
  };
}
