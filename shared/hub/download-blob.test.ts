import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { mkdtemp, readdir, readFile, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { blobPath, repoCachePaths, type RepoCachePaths } from '../hf-cache/cache-paths.js';
import { readResumeRecord } from '../hf-cache/resume-record.js';
import { createLogger } from '../log/create-logger.js';
import { isConnectionError } from '../retry/with-retry.js';
import { downloadBlob, type DownloadBlobParams } from './download-blob.js';
import { hashPool } from './hash-pool.js';
import type { RepoFile } from './list-repo-files.js';

const REPO = 'org/model';
const COMMIT = 'a'.repeat(40);
const TOKEN = 'hf_downloadblobtesttoken';
/** over three slabs, not a multiple of one */
const content = randomBytes(3 * 1024 * 1024 + 12_345);
const sha256 = createHash('sha256').update(content).digest('hex');
const lfsFile: RepoFile = {
  path: 'weights/model.onnx',
  size: content.length,
  etag: sha256,
  isLfs: true,
  blobId: 'b'.repeat(40),
};

type Responder = (req: IncomingMessage, res: ServerResponse) => void;

/** A local server that answers with the next queued responder, else `fallback`, and records each request. */
class ScriptedServer {
  readonly requests: { path: string; range?: string; authorization?: string }[] = [];
  readonly queue: Responder[] = [];
  fallback: Responder = (_req, res) => res.writeHead(404).end();
  private readonly server: Server;
  url = '';

  constructor() {
    this.server = createServer((req, res) => {
      const { range, authorization } = req.headers;
      this.requests.push({
        path: req.url ?? '',
        ...(range ? { range } : {}),
        ...(authorization ? { authorization } : {}),
      });
      (this.queue.shift() ?? this.fallback)(req, res);
    });
  }

  async start(): Promise<void> {
    await new Promise<void>((resolve) => this.server.listen(0, '127.0.0.1', resolve));
    this.url = `http://127.0.0.1:${(this.server.address() as AddressInfo).port}`;
  }

  reset(): void {
    this.requests.length = 0;
    this.queue.length = 0;
  }

  async stop(): Promise<void> {
    this.server.closeAllConnections();
    await new Promise((resolve) => this.server.close(resolve));
  }
}

/** The byte range a request asks for (`bytes=N-` only, as the downloader sends it), or null. */
function rangeStart(req: IncomingMessage): number | null {
  const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
  return m ? Number(m[1]) : null;
}

/** Serves `body` honestly: 206 from the asked offset, else 200. */
function serve(body: Buffer): Responder {
  return (req, res) => {
    const start = rangeStart(req);
    if (start === null) {
      res.writeHead(200, { 'content-length': body.length }).end(body);
      return;
    }
    res.writeHead(206, {
      'content-length': body.length - start,
      'content-range': `bytes ${start}-${body.length - 1}/${body.length}`,
    });
    res.end(body.subarray(start));
  };
}

/** Announces the whole (rest of the) file, sends `bytes` of it, then drops the connection. */
function dropAfter(body: Buffer, bytes: number): Responder {
  return (req, res) => {
    const start = rangeStart(req) ?? 0;
    res.writeHead(start > 0 ? 206 : 200, {
      'content-length': body.length - start,
      ...(start > 0 ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}),
    });
    res.write(body.subarray(start, start + bytes), () => res.socket?.destroy());
  };
}

/** A well-formed chunked response (no length announced) that simply ends after `bytes`. */
function endAfter(body: Buffer, bytes: number): Responder {
  return (_req, res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.end(body.subarray(0, bytes));
  };
}

/** Chunked, with bytes past the end of the file. */
function tooLong(body: Buffer): Responder {
  return (_req, res) => {
    res.writeHead(200, { 'transfer-encoding': 'chunked' });
    res.end(Buffer.concat([body, Buffer.from('trailing garbage')]));
  };
}

/** The right length, one byte wrong in the middle. */
function wrongBytes(body: Buffer): Responder {
  const bad = Buffer.from(body);
  const middle = bad.length >> 1;
  bad[middle] = bad[middle]! ^ 0xff;
  return serve(bad);
}

const hub = new ScriptedServer();
const cdn = new ScriptedServer();
let dir: string;
let paths: RepoCachePaths;

beforeAll(async () => {
  await hub.start();
  await cdn.start();
});
afterAll(async () => {
  await hub.stop();
  await cdn.stop();
  await hashPool.close();
});
beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelctl-download-blob-'));
  paths = repoCachePaths(path.join(dir, 'hub'), REPO);
  hub.reset();
  cdn.reset();
  // the Hub sends LFS files to the CDN, another origin, as huggingface.co does
  hub.fallback = (_req, res) =>
    res.writeHead(302, { location: `${cdn.url}/repos/${REPO}/${sha256}?Signature=x` }).end();
  cdn.fallback = serve(content);
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

/** which way bodies are read in the describe block running */
let socketMinBytes: number | undefined;

function params(overrides: Partial<DownloadBlobParams> = {}): DownloadBlobParams {
  return {
    socketMinBytes,
    access: { hubUrl: hub.url, token: TOKEN },
    paths,
    commit: COMMIT,
    file: lfsFile,
    stateDir: path.join(dir, 'state'),
    retry: { maxRetries: 4, baseDelayMs: 1, maxDelayMs: 5 },
    log: createLogger({ name: 'download-blob-test', level: 'silent' }),
    ...overrides,
  };
}

/** Files left in `blobs/` besides the published blob (partial downloads). */
async function leftovers(): Promise<string[]> {
  return (await readdir(paths.blobsDir)).filter((n) => n !== sha256 && !n.endsWith('.lock'));
}

describe.each([
  ['undici', Number.MAX_SAFE_INTEGER],
  ['a socket of its own, read into slabs', 0],
])('downloadBlob, bodies read through %s', (_how, minBytes) => {
  beforeAll(() => {
    socketMinBytes = minBytes;
  });

  it('follows the CDN redirect without the token and publishes the verified blob under its etag', async () => {
    const outcome = await downloadBlob(params());
    expect(outcome).toEqual({ downloaded: true, networkBytes: content.length, resumedBytes: 0 });
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
    expect((await stat(blobPath(paths, sha256))).mode & 0o777).toBe(0o644);
    expect(hub.requests).toEqual([
      { path: `/${REPO}/resolve/${COMMIT}/weights/model.onnx`, authorization: `Bearer ${TOKEN}` },
    ]);
    expect(cdn.requests).toHaveLength(1);
    expect(cdn.requests[0]!.authorization).toBeUndefined();
    expect(await leftovers()).toEqual([]);
    expect(await readResumeRecord(path.join(dir, 'state'), REPO, sha256)).toBeNull();
  });

  it('does not send the token back to the Hub after a redirect through another origin', async () => {
    cdn.queue.push((_req, res) => res.writeHead(307, { location: `${hub.url}/back/${sha256}` }).end());
    hub.queue.push(hub.fallback);
    hub.queue.push(serve(content));
    await downloadBlob(params());
    expect(hub.requests.map((r) => [r.path, r.authorization])).toEqual([
      [`/${REPO}/resolve/${COMMIT}/weights/model.onnx`, `Bearer ${TOKEN}`],
      [`/back/${sha256}`, undefined],
    ]);
  });

  it('resumes after a dropped connection with a Range from the last byte written, fetching nothing twice', async () => {
    const cut = 2 * 1024 * 1024 + 777;
    cdn.queue.push(dropAfter(content, cut));
    const outcome = await downloadBlob(params());
    expect(cdn.requests).toHaveLength(2);
    const resumedAt = Number(/^bytes=(\d+)-$/.exec(cdn.requests[1]!.range ?? '')?.[1]);
    expect(resumedAt).toBeGreaterThan(0);
    expect(resumedAt).toBeLessThanOrEqual(cut);
    expect(outcome.networkBytes).toBe(content.length);
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
  });

  it('continues a body that ends early without an error, from where it ended', async () => {
    // a request from zero gets the short body; one with a Range, the rest
    cdn.fallback = (req, res) => (req.headers.range ? serve(content) : endAfter(content, 1_000_000))(req, res);
    await downloadBlob(params());
    // (read over a socket, a chunked body is fetched again through undici: one more request from zero)
    const ranges = cdn.requests.map((r) => r.range);
    expect(ranges.at(-1)).toBe('bytes=1000000-');
    expect(ranges.slice(0, -1).every((r) => r === undefined)).toBe(true);
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
  });

  it('starts again from zero when the server ignores the Range', async () => {
    // the second answer is a 200 with the whole file although a Range was asked: its bytes replace the first
    const ignoreRange: Responder = (_req, res) => res.writeHead(200, { 'content-length': content.length }).end(content);
    cdn.queue.push(dropAfter(content, 1_500_000), ignoreRange);
    const outcome = await downloadBlob(params());
    expect(cdn.requests[1]!.range).toMatch(/^bytes=\d+-$/);
    expect(outcome.networkBytes).toBeGreaterThan(content.length);
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
  });

  it('refuses a 206 for another range than the one asked, and recovers on the next attempt', async () => {
    cdn.queue.push(dropAfter(content, 1_500_000), (_req, res) => {
      res.writeHead(206, { 'content-length': 10, 'content-range': `bytes 0-9/${content.length}` });
      res.end(content.subarray(0, 10));
    });
    await downloadBlob(params());
    expect(cdn.requests).toHaveLength(3);
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
  });

  it('drops content that fails its hash and fetches it again from zero', async () => {
    cdn.queue.push(wrongBytes(content));
    await downloadBlob(params());
    expect(cdn.requests.map((r) => r.range)).toEqual([undefined, undefined]);
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
  });

  it('gives up on a server that always lies, leaving neither the blob nor a partial file', async () => {
    cdn.fallback = wrongBytes(content);
    await expect(downloadBlob(params())).rejects.toMatchObject({ code: 'DOWNLOAD_INTEGRITY' });
    expect(cdn.requests).toHaveLength(3);
    await expect(stat(blobPath(paths, sha256))).rejects.toMatchObject({ code: 'ENOENT' });
    expect(await leftovers()).toEqual([]);
    expect(await readResumeRecord(path.join(dir, 'state'), REPO, sha256)).toBeNull();
  });

  it('refuses a body that announces more bytes than the file has', async () => {
    cdn.fallback = (_req, res) => {
      res.writeHead(200, { 'content-length': content.length + 5 });
      res.end(Buffer.concat([content, Buffer.from('extra')]));
    };
    await expect(downloadBlob(params({ retry: { maxRetries: 0 } }))).rejects.toMatchObject({
      code: 'DOWNLOAD_INTEGRITY',
    });
    await expect(stat(blobPath(paths, sha256))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('refuses a chunked body longer than the file', async () => {
    cdn.fallback = tooLong(content);
    await expect(downloadBlob(params({ retry: { maxRetries: 0 } }))).rejects.toMatchObject({
      code: 'DOWNLOAD_INTEGRITY',
    });
    await expect(stat(blobPath(paths, sha256))).rejects.toMatchObject({ code: 'ENOENT' });
  });

  it('keeps a partial file when retries run out, and the next call resumes it', async () => {
    const cut = 1024 * 1024 + 5;
    cdn.fallback = dropAfter(content, cut);
    const failure: unknown = await downloadBlob(params({ retry: { maxRetries: 0 }, resumeMinBytes: 0 })).catch(
      (err: unknown) => err,
    );
    expect(isConnectionError(failure)).toBe(true);
    const record = await readResumeRecord(path.join(dir, 'state'), REPO, sha256);
    expect(record).not.toBeNull();
    const kept = (await stat(path.join(paths.blobsDir, record!.temp))).size;
    expect(kept).toBeGreaterThan(0);
    cdn.fallback = serve(content);
    const outcome = await downloadBlob(params({ resumeMinBytes: 0 }));
    expect(outcome.resumedBytes).toBe(kept);
    expect(outcome.networkBytes).toBe(content.length - kept);
    expect(cdn.requests.at(-1)!.range).toBe(`bytes=${kept}-`);
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
    expect(await leftovers()).toEqual([]);
  });

  it('records no resume point for a small file: after a failed call, the next one fetches it whole', async () => {
    cdn.fallback = dropAfter(content, 1024 * 1024 + 5);
    await expect(downloadBlob(params({ retry: { maxRetries: 0 } }))).rejects.toBeDefined();
    expect(await readResumeRecord(path.join(dir, 'state'), REPO, sha256)).toBeNull();
    cdn.fallback = serve(content);
    const outcome = await downloadBlob(params());
    expect(outcome).toEqual({ downloaded: true, networkBytes: content.length, resumedBytes: 0 });
    expect(cdn.requests.at(-1)!.range).toBeUndefined();
    expect((await readFile(blobPath(paths, sha256))).equals(content)).toBe(true);
  });

  it('does not retry a file the Hub says is not there', async () => {
    hub.fallback = (_req, res) => res.writeHead(404, { 'x-error-code': 'EntryNotFound' }).end();
    await expect(downloadBlob(params())).rejects.toMatchObject({ code: 'HUB_ENTRY_NOT_FOUND', permanent: true });
    expect(hub.requests).toHaveLength(1);
    expect(cdn.requests).toHaveLength(0);
  });

  it('hashes small git files as git blobs (sha1 of the blob header and content)', async () => {
    const small = Buffer.from('{"model_type":"test"}\n');
    const etag = createHash('sha1').update(`blob ${small.length}\0`).update(small).digest('hex');
    hub.fallback = serve(small);
    const file: RepoFile = { path: 'config.json', size: small.length, etag, isLfs: false, blobId: etag };
    await downloadBlob(params({ file }));
    expect(await readFile(blobPath(paths, etag), 'utf8')).toBe(small.toString());
  });

  it('does nothing when the blob is already there', async () => {
    await downloadBlob(params());
    expect(await downloadBlob(params())).toEqual({ downloaded: false, networkBytes: 0, resumedBytes: 0 });
    expect(cdn.requests).toHaveLength(1);
  });
});
