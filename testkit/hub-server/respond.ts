import { once } from 'node:events';
import { createReadStream } from 'node:fs';
import type { IncomingMessage, ServerResponse } from 'node:http';
import { pipeline } from 'node:stream/promises';
import { setTimeout as sleep } from 'node:timers/promises';
import { createGzip } from 'node:zlib';
import type { FaultAction, HubEndpoint } from './faults.js';
import type { RequestLog } from './request-log.js';

/** One request being answered: what it is, the fault it drew, and what was sent. */
export interface RequestContext {
  req: IncomingMessage;
  res: ServerResponse;
  method: string;
  /** raw path (no dot-segment normalisation: traversal names must reach the handlers as sent) */
  rawPath: string;
  query: URLSearchParams;
  endpoint: HubEndpoint;
  repo?: string | undefined;
  path?: string | undefined;
  /** the fault drawn for this request, if any */
  fault: FaultAction | null;
  bytes: number;
  aborted: boolean;
  /** origin the client used to reach us (for absolute `Link` URLs) */
  origin: string;
  requestId: string;
}

/** Headers the Hub exposes to browsers; sent on every Hub answer as the real Hub does. */
const EXPOSE_HEADERS = [
  'X-Repo-Commit',
  'X-Request-Id',
  'X-Error-Code',
  'X-Error-Message',
  'X-Total-Count',
  'ETag',
  'Link',
  'Accept-Ranges',
  'Content-Range',
  'X-Linked-Size',
  'X-Linked-ETag',
  'X-Xet-Hash',
].join(',');

export function baseHeaders(ctx: RequestContext): Record<string, string> {
  return {
    'X-Request-Id': ctx.requestId,
    'Access-Control-Allow-Origin': '*',
    'Access-Control-Expose-Headers': EXPOSE_HEADERS,
    Vary: 'Origin',
  };
}

/** Sends a JSON body (through the fault-aware body writer). */
export async function sendJson(
  ctx: RequestContext,
  status: number,
  body: unknown,
  headers: Record<string, string> = {},
): Promise<void> {
  const buf = Buffer.from(JSON.stringify(body));
  ctx.res.writeHead(status, {
    ...baseHeaders(ctx),
    'Content-Type': 'application/json; charset=utf-8',
    'Content-Length': String(buf.length),
    ...headers,
  });
  await writeBody(ctx, ctx.method === 'HEAD' ? [] : [buf]);
}

/**
 * Sends a Hub error: `X-Error-Code` / `X-Error-Message` headers and `{"error": message}` body, as
 * huggingface_hub's `hf_raise_for_status` reads them.
 */
export async function sendHubError(
  ctx: RequestContext,
  params: { status: number; code?: string | undefined; message: string; headers?: Record<string, string> },
): Promise<void> {
  const headers: Record<string, string> = { 'X-Error-Message': params.message, ...params.headers };
  if (params.code) headers['X-Error-Code'] = params.code;
  await sendJson(ctx, params.status, { error: params.message }, headers);
}

/**
 * Writes body chunks, honouring the request's fault: `throttle` paces them, `drop` cuts the connection
 * after N bytes. Counts bytes and notices clients that go away.
 */
export async function writeBody(ctx: RequestContext, chunks: AsyncIterable<Buffer> | Iterable<Buffer>): Promise<void> {
  const plan = bodyPlan(ctx.fault);
  for await (const whole of chunks) {
    for (const chunk of plan.rate ? slices(whole, Math.max(1, Math.floor(plan.rate / 20))) : [whole]) {
      if (await writePiece(ctx, chunk, plan)) return;
    }
  }
  if (ctx.fault?.kind === 'drop' && ctx.bytes >= plan.dropAfter) return dropConnection(ctx);
  ctx.res.end();
}

/** What the request's fault does to its body: cut after `dropAfter` bytes, paced at `rate` bytes/s (0: not). */
interface BodyPlan {
  dropAfter: number;
  rate: number;
}

function bodyPlan(fault: FaultAction | null): BodyPlan {
  return {
    dropAfter: fault?.kind === 'drop' ? fault.afterBytes : Infinity,
    rate: fault?.kind === 'throttle' ? fault.bytesPerSecond : 0,
  };
}

/** Writes one piece of the body; true when the body ends there (the client went away, or the drop fault cut it). */
async function writePiece(ctx: RequestContext, chunk: Buffer, plan: BodyPlan): Promise<boolean> {
  if (ctx.res.destroyed) {
    markAborted(ctx);
    return true;
  }
  const room = plan.dropAfter - ctx.bytes;
  const part = corrupt(ctx, room < chunk.length ? chunk.subarray(0, room) : chunk);
  if (part.length) await writeChunk(ctx, part);
  if (ctx.bytes >= plan.dropAfter) {
    await dropConnection(ctx);
    return true;
  }
  if (plan.rate) await sleep((part.length / plan.rate) * 1000);
  return false;
}

/** Applies a `corrupt` fault to the chunk about to be sent at offset `ctx.bytes`. */
function corrupt(ctx: RequestContext, chunk: Buffer): Buffer {
  if (ctx.fault?.kind !== 'corrupt') return chunk;
  const at = ctx.fault.atByte - ctx.bytes;
  if (at < 0 || at >= chunk.length) return chunk;
  const copy = Buffer.from(chunk);
  copy[at] = copy[at]! ^ 0xff;
  return copy;
}

function* slices(buf: Buffer, size: number): Generator<Buffer> {
  for (let i = 0; i < buf.length; i += size) yield buf.subarray(i, i + size);
}

async function writeChunk(ctx: RequestContext, chunk: Buffer): Promise<void> {
  ctx.bytes += chunk.length;
  if (!ctx.res.write(chunk)) await Promise.race([once(ctx.res, 'drain'), once(ctx.res, 'close')]);
}

async function dropConnection(ctx: RequestContext): Promise<void> {
  // let the written bytes leave, then cut the TCP connection without a proper end of body
  const socket = ctx.res.socket;
  if (socket) await new Promise<void>((resolve) => socket.write('', () => resolve()));
  ctx.res.socket?.destroy();
  ctx.aborted = true;
}

function markAborted(ctx: RequestContext): void {
  ctx.aborted = true;
}

/**
 * Sends a file's byte range: piped straight to the socket when no body fault applies (benchmarks measure
 * the client, not this server), through {@link writeBody} otherwise.
 */
export async function sendFileRange(ctx: RequestContext, file: string, start: number, end: number): Promise<void> {
  const kind = ctx.fault?.kind;
  if (ctx.method === 'HEAD') return writeBody(ctx, []);
  if (kind === 'drop' || kind === 'throttle' || kind === 'corrupt') return writeBody(ctx, fileChunks(file, start, end));
  if (end < start) return writeBody(ctx, []);
  const stream = createReadStream(file, { start, end, highWaterMark: 1024 * 1024 });
  stream.on('data', (chunk) => (ctx.bytes += chunk.length));
  await pipeline(stream, ctx.res).catch(() => markAborted(ctx));
}

/** Sends a whole file gzip-encoded (bytes counted as sent, compressed). */
export async function sendGzipped(ctx: RequestContext, file: string): Promise<void> {
  const gzip = createGzip();
  gzip.on('data', (chunk: Buffer) => (ctx.bytes += chunk.length));
  await pipeline(createReadStream(file), gzip, ctx.res).catch(() => markAborted(ctx));
}

/** A file's byte range as a chunk stream. */
function fileChunks(file: string, start: number, end: number): AsyncIterable<Buffer> {
  if (end < start) return (async function* () {})();
  return createReadStream(file, { start, end, highWaterMark: 1024 * 1024 });
}

/** Parsed `Range` header against a size: the inclusive byte range, `null` for the whole body, or 'invalid'. */
export function parseRange(
  header: string | undefined,
  size: number,
): { start: number; end: number } | null | 'invalid' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return 'invalid';
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0) return 'invalid';
    return { start: Math.max(0, size - suffix), end: size - 1 };
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'invalid';
  return { start, end };
}

/** Records the request once it is answered (or cut). */
export function logWhenDone(ctx: RequestContext, log: RequestLog): void {
  let logged = false;
  const record = (): void => {
    if (logged) return;
    logged = true;
    log.add({
      method: ctx.method,
      url: ctx.req.url ?? '',
      endpoint: ctx.endpoint,
      repo: ctx.repo,
      path: ctx.path,
      status: ctx.res.statusCode,
      bytes: ctx.bytes,
      authorization: ctx.req.headers.authorization !== undefined,
      range: ctx.req.headers.range,
      fault: ctx.fault?.kind,
      aborted: ctx.aborted || !ctx.res.writableFinished,
    });
  };
  // 'finish': the whole answer was handed to the socket (logged before the client can read it all);
  // 'close' alone: the connection ended first
  ctx.res.once('finish', record);
  ctx.res.once('close', record);
}
