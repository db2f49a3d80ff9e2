import type { WireTensor } from '../model-io.js';

/** Runs the model once on some feeds (onnxruntime's session.run as the inference thread calls it). */
export type RunModel = (feeds: Record<string, WireTensor>, outputs: string[]) => Promise<Record<string, WireTensor>>;

/** One request's call of the model, waiting to be merged with the others of its batch. */
interface PendingRun {
  feeds: Record<string, WireTensor>;
  outputs: string[];
  resolve: (out: Record<string, WireTensor>) => void;
  reject: (err: unknown) => void;
}

/**
 * Scores the requests of one batch with as few model calls as their shapes allow: each request is scored as if
 * alone (`scoreOne` gets a `run` of its own), but the `run` calls are held until every request has either called
 * it or finished (refused while parsing), then merged: calls with the same inputs (names, element types, every
 * dimension but the first) and the same outputs are concatenated along the first (batch) dimension, up to
 * `maxRows` rows per model call, and each gets back its own rows of every output.
 *
 * Per-request errors stay per request: a request refused while parsing fails alone, and when a merged call fails
 * (onnxruntime refuses one request's values) its requests are run again one by one, so only the bad one fails.
 * A model whose outputs do not keep the batch dimension (a merged call returns other than one row per input row)
 * is run one request at a time.
 * @returns each request's settled result, in order, with its row count when it reached the model
 */
export async function scoreMerged<T, A>(params: {
  tasks: T[];
  scoreOne: (task: T, run: RunModel) => Promise<A>;
  run: RunModel;
  /** rows per model call */
  maxRows: number;
}): Promise<{ result: PromiseSettledResult<A>; rows: number | undefined }[]> {
  const pending: (PendingRun | null)[] = params.tasks.map(() => null);
  let gathering = true;
  const arrived = params.tasks.map(() => deferred<undefined>());
  const scored = params.tasks.map((task, i) =>
    params.scoreOne(task, (feeds, outputs) => {
      // a second call of run by the same request (none of ours does) runs directly
      if (!gathering || pending[i]) return params.run(feeds, outputs);
      const { promise, resolve, reject } = deferred<Record<string, WireTensor>>();
      pending[i] = { feeds, outputs, resolve, reject };
      arrived[i]!.resolve(undefined);
      return promise;
    }),
  );
  scored.forEach((p, i) =>
    p.then(
      () => arrived[i]!.resolve(undefined),
      () => arrived[i]!.resolve(undefined),
    ),
  );
  await Promise.all(arrived.map((a) => a.promise));
  gathering = false;
  const calls = pending.filter((p): p is PendingRun => p !== null);
  await runGrouped(calls, params.run, params.maxRows);
  const settled = await Promise.allSettled(scored);
  return settled.map((result, i) => ({
    result,
    rows: pending[i] ? (rowsOf(pending[i].feeds) ?? undefined) : undefined,
  }));
}

async function runGrouped(calls: PendingRun[], run: RunModel, maxRows: number): Promise<void> {
  const groups = new Map<string, PendingRun[]>();
  const alone: PendingRun[] = [];
  for (const call of calls) {
    const key = mergeKey(call);
    if (key === null) alone.push(call);
    else groups.set(key, [...(groups.get(key) ?? []), call]);
  }
  const chunks: PendingRun[][] = alone.map((c) => [c]);
  for (const group of groups.values()) chunks.push(...chunksOf(group, maxRows));
  for (const chunk of chunks) await runChunk(chunk, run);
}

/** Consecutive calls whose rows add up to at most `maxRows` (a call larger than that runs alone). */
function chunksOf(group: PendingRun[], maxRows: number): PendingRun[][] {
  const chunks: PendingRun[][] = [];
  let current: PendingRun[] = [];
  let rows = 0;
  for (const call of group) {
    const n = rowsOf(call.feeds)!;
    if (current.length > 0 && rows + n > maxRows) {
      chunks.push(current);
      current = [];
      rows = 0;
    }
    current.push(call);
    rows += n;
  }
  if (current.length > 0) chunks.push(current);
  return chunks;
}

async function runChunk(chunk: PendingRun[], run: RunModel): Promise<void> {
  if (chunk.length === 1) {
    await settle(chunk[0]!, run);
    return;
  }
  const counts = chunk.map((c) => rowsOf(c.feeds)!);
  const total = counts.reduce((a, b) => a + b, 0);
  let merged: Record<string, WireTensor>;
  try {
    merged = await run(concatFeeds(chunk.map((c) => c.feeds)), chunk[0]!.outputs);
  } catch {
    // one request's values made onnxruntime refuse the merged call: find it by running them one by one
    for (const call of chunk) await settle(call, run);
    return;
  }
  if (!Object.values(merged).every((t) => t.dims.length > 0 && t.dims[0] === total)) {
    for (const call of chunk) await settle(call, run);
    return;
  }
  let offset = 0;
  chunk.forEach((call, i) => {
    call.resolve(sliceRows(merged, offset, counts[i]!));
    offset += counts[i]!;
  });
}

async function settle(call: PendingRun, run: RunModel): Promise<void> {
  try {
    call.resolve(await run(call.feeds, call.outputs));
  } catch (err) {
    call.reject(err);
  }
}

/**
 * What calls must share to be merged, or null for a call that cannot be: every feed needs a first dimension,
 * the same for all feeds (the request's rows).
 */
function mergeKey(call: PendingRun): string | null {
  if (rowsOf(call.feeds) === null) return null;
  const names = Object.keys(call.feeds).sort();
  const inputs = names.map((n) => {
    const t = call.feeds[n]!;
    return `${n}:${t.type}:${t.dims.slice(1).join('x')}`;
  });
  return `${inputs.join(',')}|${call.outputs.join(',')}`;
}

/** The rows of a request: the first dimension shared by all its feeds, or null. */
function rowsOf(feeds: Record<string, WireTensor>): number | null {
  let rows: number | null = null;
  for (const t of Object.values(feeds)) {
    const first = t.dims[0];
    if (first === undefined || first < 1) return null;
    if (rows !== null && rows !== first) return null;
    rows = first;
  }
  return rows;
}

function concatFeeds(all: Record<string, WireTensor>[]): Record<string, WireTensor> {
  const out: Record<string, WireTensor> = {};
  for (const name of Object.keys(all[0]!)) {
    const parts = all.map((f) => f[name]!);
    const rows = parts.reduce((n, t) => n + t.dims[0]!, 0);
    out[name] = {
      type: parts[0]!.type,
      data: concatData(parts.map((t) => t.data)),
      dims: [rows, ...parts[0]!.dims.slice(1)],
    };
  }
  return out;
}

/** What onnxruntime's numeric tensors hold (WireTensor says ArrayBufferView; every one of ours is a typed array). */
interface TypedArray extends ArrayBufferView {
  readonly length: number;
  set: (array: TypedArray, offset: number) => void;
  subarray: (begin: number, end: number) => TypedArray;
}

function concatData(parts: WireTensor['data'][]): WireTensor['data'] {
  const first = parts[0]!;
  if (Array.isArray(first)) return (parts as string[][]).flat();
  const typed = parts as unknown as TypedArray[];
  const length = typed.reduce((n, p) => n + p.length, 0);
  const Ctor = (first as unknown as TypedArray).constructor as new (n: number) => TypedArray;
  const out = new Ctor(length);
  let offset = 0;
  for (const p of typed) {
    out.set(p, offset);
    offset += p.length;
  }
  return out;
}

/** Rows `[start, start + count)` of every output (views, not copies). */
function sliceRows(outputs: Record<string, WireTensor>, start: number, count: number): Record<string, WireTensor> {
  const out: Record<string, WireTensor> = {};
  for (const [name, t] of Object.entries(outputs)) {
    const total = t.dims[0]!;
    const perRow = total === 0 ? 0 : lengthOf(t.data) / total;
    const from = start * perRow;
    const to = (start + count) * perRow;
    const data = Array.isArray(t.data) ? t.data.slice(from, to) : (t.data as unknown as TypedArray).subarray(from, to);
    out[name] = { type: t.type, data, dims: [count, ...t.dims.slice(1)] };
  }
  return out;
}

function lengthOf(data: WireTensor['data']): number {
  return Array.isArray(data) ? data.length : (data as unknown as TypedArray).length;
}

/** Promise.withResolvers, which jest's sandbox lacks. */
function deferred<T>(): { promise: Promise<T>; resolve: (v: T) => void; reject: (e: unknown) => void } {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}
