import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { createServer as createHttpServer, type RequestListener, type Server } from 'node:http';
import { createServer as createHttpsServer } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { isConnectionError } from '../retry/with-retry.js';
import { socketGet, type BodySink } from './socket-get.js';

const body = randomBytes(5 * 1024 * 1024 + 321);

/**
 * Collects a body the way SlabWriter takes it: reads land in `regionBytes`-sized regions; after every `busyEvery`
 * commits it has no space until `ready()` (a slab being written).
 */
class CollectingSink implements BodySink {
  readonly chunks: Buffer[] = [];
  private region: Buffer | null = null;
  private commits = 0;
  private busy = false;

  constructor(
    private readonly regionBytes: number,
    private readonly busyEvery: number,
  ) {}

  space(): Buffer | null {
    if (this.busy) return null;
    this.region ??= Buffer.alloc(this.regionBytes);
    return this.region;
  }

  commit(bytes: number): void {
    this.chunks.push(Buffer.from(this.region!.subarray(0, bytes)));
    this.region = null;
    if (++this.commits % this.busyEvery === 0) this.busy = true;
  }

  push(bytes: Buffer): Promise<void> | undefined {
    this.chunks.push(Buffer.from(bytes));
    return undefined;
  }

  async ready(): Promise<void> {
    await new Promise((resolve) => setTimeout(resolve, 2));
    this.busy = false;
  }

  received(): Buffer {
    return Buffer.concat(this.chunks);
  }
}

async function listen(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `127.0.0.1:${(server.address() as AddressInfo).port}`;
}

const serveBody: RequestListener = (req, res) => {
  if (req.url === '/chunked') {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.end(body);
  } else if (req.url === '/cut') {
    res.writeHead(200, { 'content-length': body.length });
    res.write(body.subarray(0, 1_000_000), () => res.socket?.destroy());
  } else if (req.url === '/big-head') {
    res.writeHead(200, { 'x-filler': 'x'.repeat(20_000), 'content-length': 0 });
    res.end();
  } else {
    res.writeHead(200, { 'content-length': body.length, 'x-seen-host': req.headers.host ?? '' });
    res.end(body);
  }
};

let work: string;
let ca: string;
const http = createHttpServer(serveBody);
let https: Server;
let httpHost: string;
let httpsHost: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-socket-get-'));
  const [key, cert] = [path.join(work, 'key.pem'), path.join(work, 'cert.pem')];
  await promisify(execFile)('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
  ]);
  ca = await readFile(cert, 'utf8');
  https = createHttpsServer({ key: await readFile(key), cert: ca }, serveBody);
  httpHost = await listen(http);
  httpsHost = await listen(https);
});
afterAll(async () => {
  http.closeAllConnections();
  https.closeAllConnections();
  await Promise.all([http, https].map((s) => new Promise((resolve) => s.close(resolve))));
  await rm(work, { recursive: true, force: true });
});

describe('socketGet', () => {
  it('reads a Content-Length body into the sink, pausing while it has no space', async () => {
    const res = await socketGet({ url: new URL(`http://${httpHost}/file`), headers: { 'x-test': '1' } });
    expect(res.status).toBe(200);
    expect(res.contentLength).toBe(body.length);
    expect(res.headers['x-seen-host']).toBe(httpHost);
    const sink = new CollectingSink(300_000, 3);
    await res.readBody(sink);
    expect(sink.received().equals(body)).toBe(true);
  });

  it('reads over TLS, trusting only the CA it is given', async () => {
    const res = await socketGet({ url: new URL(`https://${httpsHost}/file`), headers: {}, ca });
    const sink = new CollectingSink(1024 * 1024, 2);
    await res.readBody(sink);
    expect(sink.received().equals(body)).toBe(true);
    await expect(socketGet({ url: new URL(`https://${httpsHost}/file`), headers: {} })).rejects.toMatchObject({
      code: expect.stringMatching(/CERT|SELF_SIGNED/) as unknown as string,
    });
  });

  it('says a body not framed by Content-Length has no length, for the caller to fetch another way', async () => {
    const res = await socketGet({ url: new URL(`http://${httpHost}/chunked`), headers: {} });
    expect(res.contentLength).toBeNull();
    res.close();
  });

  it('fails with a retryable connection error when the body breaks off, after what did arrive', async () => {
    const res = await socketGet({ url: new URL(`http://${httpHost}/cut`), headers: {} });
    const sink = new CollectingSink(256 * 1024, 1000);
    const failure = await res.readBody(sink).catch((err: unknown) => err);
    expect(isConnectionError(failure)).toBe(true);
    const got = sink.received();
    expect(got.length).toBeLessThanOrEqual(1_000_000);
    expect(got.equals(body.subarray(0, got.length))).toBe(true);
  });

  it('refuses a response head larger than it reads', async () => {
    await expect(socketGet({ url: new URL(`http://${httpHost}/big-head`), headers: {} })).rejects.toMatchObject({
      code: 'HUB_BAD_RESPONSE',
    });
  });

  it('fails at once when the signal is already aborted', async () => {
    const controller = new AbortController();
    controller.abort(new Error('stop'));
    await expect(
      socketGet({ url: new URL(`http://${httpHost}/file`), headers: {}, signal: controller.signal }),
    ).rejects.toThrow('stop');
  });
});
