import { connect as connectTcp, isIP, type Socket, type TcpNetConnectOpts } from 'node:net';
import { connect as connectTls, type ConnectionOptions } from 'node:tls';
import { AppError } from '../errors/app-error.js';

/** Room for the status line and headers (a CDN redirect's signed Location is the longest seen: ~2 KiB). */
const HEAD_BYTES = 16 * 1024;
/** Body bytes read while the caller has not yet said where they go, or while every slab is busy. */
const SPARE_BYTES = 16 * 1024;
/** A connection that sends nothing for this long is dropped (undici's default headers and body timeouts). */
const IDLE_TIMEOUT_MS = 300_000;

/** Where a body is read to: regions of slabs to read into, or copies. */
export interface BodySink {
  /** the region the next read may fill; null when none is free (reading pauses until {@link ready}) */
  space(): Buffer | null;
  /** `bytes` landed at the start of the last {@link space} */
  commit(bytes: number): void;
  /** copies `bytes`; a promise when the caller must wait before more */
  push(bytes: Buffer): Promise<void> | undefined;
  /** resolves when {@link space} has room again */
  ready(): Promise<void>;
}

/** A response whose head was read; its body is read with {@link SocketResponse.readBody} or dropped with close. */
export interface SocketResponse {
  status: number;
  /** lower-case names; a repeated header keeps its first value */
  headers: Record<string, string>;
  /** the body's length when the response announces one (Content-Length, no Transfer-Encoding), else null */
  contentLength: number | null;
  /**
   * Reads the `contentLength` body bytes into `sink`, then closes the connection.
   * @throws an error with a connection code (ECONNRESET, ETIMEDOUT) when the body breaks off
   */
  readBody(sink: BodySink): Promise<void>;
  close(): void;
}

/**
 * One HTTP/1.1 GET on its own connection (`Connection: close`), read with the socket's `onread`: the kernel puts
 * the body straight into the caller's slabs, in reads as large as the slab has room for. Written by hand
 * because undici (and node:http) hand a body over as 16–64 KiB chunks that each were allocated, copied through
 * the parser and passed through a stream: at 1 GB/s that per-chunk work and the garbage it leaves cost more
 * CPU than hashing the bytes. Only what a file download needs: no keep-alive, no request body, a body framed
 * by Content-Length (anything else is reported as `contentLength: null` for the caller to fetch another way).
 */
export function socketGet(params: {
  url: URL;
  /** request headers besides Host and Connection */
  headers: Record<string, string>;
  signal?: AbortSignal | undefined;
  /** CA certificates to trust for https (tests); else the process's (Node's roots, NODE_EXTRA_CA_CERTS) */
  ca?: string | undefined;
}): Promise<SocketResponse> {
  return new SocketGet(params.url, params.signal, params.ca).start(params.headers);
}

function connectionError(message: string, code: string): Error {
  return Object.assign(new Error(message), { code });
}

/** The head, if `head[0, end)` holds all of it (status line, headers, blank line); null while it does not. */
function parseHead(
  head: Buffer,
  end: number,
): { status: number; headers: Record<string, string>; bodyAt: number } | null {
  const blank = head.subarray(0, end).indexOf('\r\n\r\n', 0, 'latin1');
  if (blank < 0) return null;
  const [statusLine = '', ...lines] = head.toString('latin1', 0, blank).split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(statusLine);
  if (!status) {
    throw new AppError({ code: 'HUB_BAD_RESPONSE', statusCode: 502, message: 'the server did not answer in HTTP/1.1' });
  }
  const headers: Record<string, string> = {};
  for (const line of lines) {
    const colon = line.indexOf(':');
    if (colon <= 0) continue;
    const name = line.slice(0, colon).trim().toLowerCase();
    headers[name] ??= line.slice(colon + 1).trim();
  }
  return { status: Number(status[1]), headers, bodyAt: blank + 4 };
}

function announcedLength(headers: Record<string, string>): number | null {
  if (headers['transfer-encoding'] !== undefined) return null;
  const value = headers['content-length'];
  return value !== undefined && /^\d{1,15}$/.test(value) ? Number(value) : null;
}

type Phase = 'head' | 'waiting' | 'body' | 'done';

class SocketGet {
  private readonly socket: Socket;
  private phase: Phase = 'head';
  private readonly head = Buffer.allocUnsafe(HEAD_BYTES);
  private headFill = 0;
  private readonly spare = Buffer.allocUnsafe(SPARE_BYTES);
  /** the buffer the next read goes to (`onread` asks for it right after each read) */
  private next: Buffer = this.head;
  private nextIsSpare = false;
  private sink: BodySink | null = null;
  /** body bytes still to come */
  private remaining = 0;
  private settle: { resolve: () => void; reject: (err: unknown) => void } | null = null;
  private failure: unknown = null;

  constructor(
    private readonly url: URL,
    private readonly signal: AbortSignal | undefined,
    ca: string | undefined,
  ) {
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const onread = { buffer: () => this.next, callback: (n: number) => this.onRead(n) };
    if (url.protocol === 'https:') {
      // tls.connect takes net's `onread` (TLSSocket is a net.Socket; socket-get.test.ts reads over TLS), though
      // its typings do not list it
      const options: ConnectionOptions & Pick<TcpNetConnectOpts, 'onread'> = {
        host,
        port: Number(url.port || 443),
        onread,
        ...(isIP(host) === 0 ? { servername: host } : {}),
        ...(ca === undefined ? {} : { ca }),
      };
      this.socket = connectTls(options);
    } else if (url.protocol === 'http:') {
      this.socket = connectTcp({ host, port: Number(url.port || 80), onread });
    } else {
      throw new AppError({
        code: 'HUB_BAD_RESPONSE',
        statusCode: 502,
        message: `cannot download over ${url.protocol}`,
      });
    }
    this.socket.setTimeout(IDLE_TIMEOUT_MS, () =>
      this.fail(connectionError(`no data from ${url.host} for ${IDLE_TIMEOUT_MS / 1000} s`, 'ETIMEDOUT')),
    );
    this.socket.on('error', (err) => this.fail(err));
    this.socket.on('end', () => this.fail(connectionError(`${url.host} closed the connection early`, 'ECONNRESET')));
    this.socket.on('close', () => this.fail(connectionError(`connection to ${url.host} closed`, 'ECONNRESET')));
  }

  start(headers: Record<string, string>): Promise<SocketResponse> {
    const headDone = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    const lines = Object.entries(headers).map(([name, value]) => `${name}: ${value}\r\n`);
    const target = `${this.url.pathname}${this.url.search}`;
    this.socket.write(`GET ${target} HTTP/1.1\r\nhost: ${this.url.host}\r\n${lines.join('')}connection: close\r\n\r\n`);
    const abort = () => this.fail(this.signal?.reason ?? connectionError('aborted', 'ABORT_ERR'));
    if (this.signal?.aborted) abort();
    this.signal?.addEventListener('abort', abort, { once: true });
    this.socket.once('close', () => this.signal?.removeEventListener('abort', abort));
    return headDone.then(() => this.response());
  }

  private response(): SocketResponse {
    const parsed = parseHead(this.head, this.headFill)!;
    const contentLength = announcedLength(parsed.headers);
    return {
      status: parsed.status,
      headers: parsed.headers,
      contentLength,
      readBody: (sink) => this.readBody(sink, this.head.subarray(parsed.bodyAt, this.headFill), contentLength ?? 0),
      close: () => this.close(),
    };
  }

  /**
   * Body bytes that came with the head are copied; the next read (asked for when the head was complete) goes to
   * the spare buffer and is copied too; the reads after it go straight into `sink`'s slabs.
   */
  private async readBody(sink: BodySink, early: Buffer, length: number): Promise<void> {
    this.sink = sink;
    const first = early.subarray(0, length);
    this.remaining = length - first.length;
    await sink.push(first);
    // the whole body came with the head: whatever the connection did since does not matter
    if (this.remaining === 0) return this.close();
    if (this.failure !== null) throw this.failure;
    const done = new Promise<void>((resolve, reject) => (this.settle = { resolve, reject }));
    this.phase = 'body';
    this.socket.resume();
    return done;
  }

  private onRead(n: number): boolean {
    try {
      if (this.phase === 'head') return this.onHeadRead(n);
      if (this.phase === 'body') return this.onBodyRead(n);
    } catch (err) {
      this.fail(err);
    }
    return false;
  }

  private onHeadRead(n: number): boolean {
    this.headFill += n;
    if (parseHead(this.head, this.headFill) === null) {
      if (this.headFill === HEAD_BYTES) {
        throw new AppError({ code: 'HUB_BAD_RESPONSE', statusCode: 502, message: 'response head too large' });
      }
      this.next = this.head.subarray(this.headFill);
      return true;
    }
    // the caller decides what the body is for: wait (reads paused; the next one goes to the spare buffer)
    this.phase = 'waiting';
    this.next = this.spare;
    this.nextIsSpare = true;
    this.finish();
    return false;
  }

  private onBodyRead(read: number): boolean {
    const sink = this.sink!;
    // a server that sends past its Content-Length: the rest is not part of this body
    const n = Math.min(read, this.remaining);
    const wait = this.nextIsSpare ? sink.push(this.spare.subarray(0, n)) : (sink.commit(n), undefined);
    this.remaining -= n;
    if (this.remaining === 0) {
      this.close();
      this.finish();
      return false;
    }
    if (wait) return this.pauseUntil(wait);
    const space = sink.space();
    if (space === null) return this.pauseUntil(sink.ready());
    this.next = space.subarray(0, Math.min(space.length, this.remaining));
    this.nextIsSpare = false;
    return true;
  }

  /**
   * Stops reading until `wait` resolves. The read after the pause was already given its buffer when it was
   * asked for (right after this read): the spare one, copied from then.
   */
  private pauseUntil(wait: Promise<void>): false {
    this.next = this.spare;
    this.nextIsSpare = true;
    wait.then(
      () => {
        if (this.phase === 'body') this.socket.resume();
      },
      (err: unknown) => this.fail(err),
    );
    return false;
  }

  private finish(): void {
    const settle = this.settle;
    this.settle = null;
    settle?.resolve();
  }

  private fail(err: unknown): void {
    if (this.phase === 'done') return;
    this.failure ??= err;
    this.close();
    const settle = this.settle;
    this.settle = null;
    settle?.reject(this.failure);
  }

  private close(): void {
    this.phase = 'done';
    this.socket.destroy();
  }
}
