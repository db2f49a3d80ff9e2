// An inference thread: loads its own onnxruntime session once, then scores whole requests: it parses the raw
// body, runs the session and serialises the answer (see scoring.ts), so the main thread only moves bytes.
// onnxruntime-node's `run()` is synchronous under its Promise (microsoft/onnxruntime#19611): on the main thread
// it would stall health probes and every other request.
import { readFileSync } from 'node:fs';
import { workerData } from 'node:worker_threads';
import type ort from 'onnxruntime-node';
import { isAppError, type ErrorCode } from '../../shared/errors/app-error.js';
import type { Signature } from '../../shared/model/signature.js';
import { toModelIo, type ModelIo, type WireTensor } from './model-io.js';
import { moved } from './movable-answer.js';
import { startAhead } from './batching/ahead-control.js';
import { scoreMerged } from './batching/merge-runs.js';
import { loadEarlySession, type InferenceWorkerData } from './early-session.js';
import { badRequest } from './scoring-error.js';
import { score, type ScoringAnswer, type ScoringLimits, type ScoringModel, type ScoringTask } from './scoring.js';

export interface WorkerInit {
  onnxPath: string;
  /** the model's header with its weights mapped from onnxPath (map-onnx-weights.ts); null: load onnxPath as it is */
  mappedHeader: Uint8Array | null;
  sessionOptions: ort.InferenceSession.SessionOptions;
  modelName: string;
  signature: Signature | null;
  /** the serving input example, run once as a `POST /invocations` when the session is created */
  examplePath: string | null;
  /** what one request may cost (SERVE_MAX_REQUEST_VALUES) */
  limits: ScoringLimits;
}
/** What a thread reports once loaded: the graph, and how its run of the input example went. */
export interface ThreadReport {
  inputs: readonly ort.InferenceSession.ValueMetadata[];
  outputs: readonly ort.InferenceSession.ValueMetadata[];
  /** null without an example; else its time or the refusal of it */
  example: { ms: number } | ScoringRefusal | null;
}
/** `ahead`: the task was handed ahead to this busy thread; its requests cancelled meanwhile are skipped (ahead-control.ts) */
export type InferenceTask =
  | { kind: 'describe' }
  | ({ kind: 'score'; ahead?: SharedArrayBuffer } & ScoringTask)
  /** requests merged by the adaptive batcher: scored together, the model called once per compatible group */
  | { kind: 'batch'; tasks: ScoringTask[]; maxRows: number; ahead?: SharedArrayBuffer };
/** One request of a batch: its answer or refusal, with its rows once they reached the model. */
export type BatchItemResult = (ScoringAnswer | ScoringRefusal) & { rows?: number | undefined };
/** A request the worker could not score, as the main thread turns it back into an AppError. */
export interface ScoringRefusal {
  refused: { statusCode: number; code: ErrorCode; message: string };
}

// The thread starts before the main thread knows the model's settings (start-inference-threads.ts): it begins
// the session it guesses they name, kept when they do (early-session.ts).
const { init, onnxruntime, session } = (await loadEarlySession(workerData as InferenceWorkerData)) ?? (await closing());
let model: ScoringModel | undefined;
// Each thread proves (and warms) its own session on the example before piscina calls it ready, so the threads'
// example runs overlap instead of following the slowest thread's start.
const example = init.examplePath ? await runExample(init.examplePath) : null;

/** The threads are closing (loadEarlySession): the thread waits to be ended, which the close does next. */
function closing(): Promise<never> {
  setInterval(() => undefined, 60_000);
  return new Promise<never>(() => undefined);
}

/** Piscina calls this for each task: the response body (moved, not copied) or a refusal. */
export default async function handle(task: InferenceTask): Promise<unknown> {
  if (task.kind === 'describe') {
    const report: ThreadReport = { inputs: session.inputMetadata, outputs: session.outputMetadata, example };
    return report;
  }
  if (task.kind === 'batch') {
    if (task.ahead === undefined) return scoreBatch(task.tasks, task.maxRows);
    await modelTurn();
    return scoreBatch(task.tasks, task.maxRows, startAhead(task.ahead));
  }
  if (task.ahead !== undefined) {
    await modelTurn();
    // a request cancelled while it waited here is not scored (the main thread has answered it)
    if (startAhead(task.ahead)[0]) return SKIPPED;
  }
  const answer = await scoreTask(task);
  return 'body' in answer ? moved(answer, [answer.body.buffer as ArrayBuffer]) : answer;
}

/**
 * The batch's answers, each body's buffer transferred (moved, not copied) back to the main thread. `cancelled`
 * (a batch handed ahead): the requests cancelled while it waited are skipped, the others scored together.
 */
async function scoreBatch(tasks: ScoringTask[], maxRows: number, cancelled?: boolean[]): Promise<unknown> {
  model ??= { name: init.modelName, io: modelIo(), run };
  const scoring = model;
  const kept = cancelled?.includes(true) ? tasks.filter((_, i) => !cancelled[i]) : tasks;
  const settled =
    kept.length === 0
      ? []
      : await scoreMerged({
          tasks: kept,
          scoreOne: (task, runMerged) => score(task, { ...scoring, run: runMerged }, init.limits),
          run,
          maxRows,
        });
  let results: BatchItemResult[] = settled.map(({ result, rows }) =>
    result.status === 'fulfilled' ? { ...result.value, rows } : { ...refusalOf(result.reason), rows },
  );
  if (kept !== tasks) {
    let next = 0;
    results = cancelled!.map((skip) => (skip ? SKIPPED : results[next++]!));
  }
  return moved(results, packAnswers(results));
}

/**
 * Settles once the model runs queued before it have run: onnxruntime-node's run starts in a setImmediate, so a task
 * handed ahead (ahead-control.ts) that arrives while the thread's previous task is between its parsing and its
 * model run starts (and stops being cancellable) only after that run, not before it.
 */
function modelTurn(): Promise<void> {
  return new Promise((resolve) => setImmediate(resolve));
}

/** What a thread answers for a request it skipped (cancelled while its batch waited ahead); the main thread ignores it. */
const SKIPPED: ScoringRefusal = {
  refused: { statusCode: 499, code: 'CLIENT_CLOSED_REQUEST', message: 'Cancelled before it ran' },
};

/** Answers up to this size travel back together in one buffer; a larger one in its own. */
const PACK_MAX_BYTES = 64 * 1024;

/**
 * The buffers to transfer for a batch's answers: the small bodies copied side by side into one new buffer (each
 * answer's body becomes its view), the large ones as they are. As for the requests (batching/pack-bodies.ts): one
 * transferred buffer for the main thread to take in and its GC to sweep, instead of one per answer, costs less
 * than copying a few KiB.
 */
function packAnswers(results: BatchItemResult[]): ArrayBuffer[] {
  const small = results.filter(
    (r): r is ScoringAnswer & { rows?: number } => 'body' in r && r.body.byteLength <= PACK_MAX_BYTES,
  );
  const transfer = results.flatMap((r) =>
    'body' in r && r.body.byteLength > PACK_MAX_BYTES ? [r.body.buffer as ArrayBuffer] : [],
  );
  if (small.length === 0) return transfer;
  const packed = new Uint8Array(small.reduce((n, r) => n + r.body.byteLength, 0));
  let offset = 0;
  for (const r of small) {
    packed.set(r.body, offset);
    r.body = packed.subarray(offset, offset + r.body.byteLength);
    offset += r.body.byteLength;
  }
  return [...transfer, packed.buffer];
}

async function scoreTask(task: ScoringTask): Promise<ScoringAnswer | ScoringRefusal> {
  try {
    model ??= { name: init.modelName, io: modelIo(), run };
    return await score(task, model, init.limits);
  } catch (err) {
    return refusalOf(err);
  }
}

async function runExample(file: string): Promise<ThreadReport['example']> {
  const started = performance.now();
  const answer = await scoreTask({ protocol: 'mlflow', format: 'json', body: readFileSync(file) });
  return 'body' in answer ? { ms: performance.now() - started } : answer;
}

function modelIo(): ModelIo {
  return toModelIo({ inputs: session.inputMetadata, outputs: session.outputMetadata }, init.signature);
}

async function run(feeds: Record<string, WireTensor>, outputs: string[]): Promise<Record<string, WireTensor>> {
  const tensors: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(feeds)) {
    tensors[name] = new onnxruntime.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
  }
  let result: ort.InferenceSession.ReturnType;
  try {
    result = await session.run(tensors, outputs);
  } catch (cause) {
    // onnxruntime refuses what the model cannot compute on this input: a client error, as MLflow answers it
    throw badRequest(`Encountered an unexpected error while evaluating the model. Error: ${firstLine(cause)}`, cause);
  }
  const out: Record<string, WireTensor> = {};
  for (const [name, tensor] of Object.entries(result)) {
    out[name] = { type: tensor.type, data: tensor.data as ArrayBufferView | string[], dims: [...tensor.dims] };
  }
  return out;
}

function refusalOf(err: unknown): ScoringRefusal {
  if (isAppError(err)) return { refused: { statusCode: err.statusCode, code: err.code, message: err.message } };
  return { refused: { statusCode: 500, code: 'INTERNAL_ERROR', message: firstLine(err) } };
}

function firstLine(err: unknown): string {
  return (err instanceof Error ? err.message : String(err)).split('\n')[0] ?? '';
}
