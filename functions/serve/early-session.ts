// An inference thread's onnxruntime session, begun before the main thread has read the model's settings (cold
// start, issue 16). The first thread starts before zod, serve's settings and MLmodel are loaded: until the
// settings come (~30 ms of the main thread's work later) it would only wait. So it guesses them from what serve
// starts with (MODEL_LOCAL_PATH: the model file MLflow writes, model.onnx; the session options serve uses for a
// model without onnx_session_options, and SERVE_INTRA_OP_THREADS) and loads onnxruntime and that session
// meanwhile. The settings decide: the session is kept only when they name the same file and options (the same
// header with the same mapped weights), else it is released and theirs created.
import { readFileSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { isDeepStrictEqual } from 'node:util';
import type ort from 'onnxruntime-node';
import type { WorkerInit } from './inference-worker.js';
import { mapOnnxWeights, withWeightsFolder } from './map-onnx-weights.js';
import { nativeWork, receiveThreadInit, threadInitProvided, type ThreadInitRef } from './thread-init.js';

/** The session a thread creates before its settings come: the model file and options serve would likely pick. */
export interface SessionGuess {
  onnxPath: string;
  sessionOptions: ort.InferenceSession.SessionOptions;
}

/** An inference thread's workerData (start-inference-threads.ts). */
export interface InferenceWorkerData extends ThreadInitRef {
  /** null: wait for the settings (a thread started after them, or no model folder to guess from) */
  guess: SessionGuess | null;
}

/** The session options serve gives a model without onnx_session_options (load-served-model.ts toSessionOptions). */
export function guessSessionOptions(intraOpThreads: number): ort.InferenceSession.SessionOptions {
  return { executionProviders: ['cpu'], intraOpNumThreads: intraOpThreads, interOpNumThreads: 1 };
}

/** The guessed model file of a model folder: MLflow's onnx flavor saves it as model.onnx. */
export function guessOnnxPath(modelDir: string): string {
  return path.join(path.resolve(modelDir), 'model.onnx');
}

/**
 * The largest model folder a thread loads on a guess. The guess saves the settings' wait (tens of ms), which only
 * matters where the load itself is short; a wrong guess (MLmodel sets onnx_session_options) costs a whole load,
 * and a start that ends before the settings are used (a refused setting, a SIGTERM) waits for it (whenNativeIdle):
 * for a large model that is seconds, so a larger folder waits for the settings as before.
 */
export const MAX_GUESSED_FOLDER_BYTES = 64 * 1024 * 1024;

interface Loaded {
  onnxruntime: typeof ort;
  session: ort.InferenceSession;
}

/** The thread's settings and session; `early`: the session begun on the guess (they agreed). */
export type EarlySession = Loaded & { init: WorkerInit; early: boolean };

/**
 * The thread's settings and its session: the one begun on the guess when the settings agree, else one created
 * from them. Native work (onnxruntime's import, a session's creation) runs inside nativeWork, so the threads'
 * close waits for it rather than aborting the process.
 * @returns null once the threads are closing (the thread has nothing left to do)
 * @throws what onnxruntime throws on the settings' own model (the guess's failure is not the model's)
 */
export async function loadEarlySession(data: InferenceWorkerData): Promise<EarlySession | null> {
  const early =
    data.guess && !threadInitProvided(data) ? await nativeWork(data, () => guessedSession(data.guess!)) : null;
  const init = await receiveThreadInit<WorkerInit>(data);
  if (early && sameSession(early, init))
    return { onnxruntime: early.onnxruntime, session: early.session, init, early: true };
  const loaded = await nativeWork(data, async () => {
    await early?.session.release();
    const { default: onnxruntime } = await import('onnxruntime-node');
    return { onnxruntime, session: await createSession(onnxruntime, init) };
  });
  return loaded && { ...loaded, init, early: false };
}

/** The session on the guess, as the main thread would set it up (its weights mapped); null when that fails. */
async function guessedSession(guess: SessionGuess): Promise<(Loaded & EarlySettings) | null> {
  try {
    const { default: onnxruntime } = await import('onnxruntime-node');
    const dir = path.dirname(guess.onnxPath);
    if (!mlmodelMatchesGuess(readFileSync(path.join(dir, 'MLmodel'), 'utf8'))) return null;
    if (folderBytesOver(dir, MAX_GUESSED_FOLDER_BYTES)) return null;
    const mapped = mapOnnxWeights(guess.onnxPath);
    const settings: EarlySettings = {
      onnxPath: guess.onnxPath,
      mappedHeader: mapped?.header ?? null,
      sessionOptions: mapped ? withWeightsFolder(guess.sessionOptions, mapped.folder) : guess.sessionOptions,
    };
    return { onnxruntime, session: await createSession(onnxruntime, settings), ...settings };
  } catch {
    // a guess that does not load (no such file, a header mapMlmodel refuses, a model onnxruntime refuses): the
    // settings' own load says what is wrong, as without the guess
    return null;
  }
}

/**
 * Whether an MLmodel's text can only lead to the guessed session: its flavors' data is model.onnx and its
 * onnx_session_options are unset (MLflow writes `null`); either would make the settings differ, a whole load wasted
 * on the path to ready (and a refused model's exit waiting for it). Read as text, not YAML (the thread has no YAML
 * reader loaded, and the main thread's read decides anyway): a line these patterns miss only costs the guess.
 */
export function mlmodelMatchesGuess(text: string): boolean {
  const data = [...text.matchAll(/^[ \t]+data:[ \t]*(.*?)[ \t]*$/gm)].map((m) => m[1] ?? '');
  const options = [...text.matchAll(/^[ \t]+onnx_session_options:[ \t]*(.*?)[ \t]*$/gm)].map((m) => m[1] ?? '');
  return (
    data.length > 0 &&
    data.every((d) => /^(['"]?)model\.onnx\1$/.test(d)) &&
    options.every((o) => o === 'null' || o === '~' || o === '{}')
  );
}

/** Whether a model folder's files, links followed (a Hugging Face snapshot links into blobs/), hold more bytes. */
function folderBytesOver(dir: string, limit: number): boolean {
  let bytes = 0;
  for (const entry of readdirSync(dir, { withFileTypes: true, recursive: true })) {
    if (entry.isFile() || entry.isSymbolicLink()) bytes += statSync(path.join(entry.parentPath, entry.name)).size;
    if (bytes > limit) return true;
  }
  return false;
}

type EarlySettings = Pick<WorkerInit, 'onnxPath' | 'mappedHeader' | 'sessionOptions'>;

/** The session of these settings: from the model's header with its weights mapped, else from the model file. */
function createSession(onnxruntime: typeof ort, settings: EarlySettings): Promise<ort.InferenceSession> {
  return settings.mappedHeader
    ? onnxruntime.InferenceSession.create(settings.mappedHeader, settings.sessionOptions)
    : onnxruntime.InferenceSession.create(settings.onnxPath, settings.sessionOptions);
}

function sameSession(early: EarlySettings, init: WorkerInit): boolean {
  return (
    early.onnxPath === init.onnxPath &&
    isDeepStrictEqual(early.sessionOptions, init.sessionOptions) &&
    (early.mappedHeader === null || init.mappedHeader === null
      ? early.mappedHeader === init.mappedHeader
      : Buffer.compare(early.mappedHeader, init.mappedHeader) === 0)
  );
}
