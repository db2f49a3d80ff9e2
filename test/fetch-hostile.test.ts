import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, writeFile } from 'node:fs/promises';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { readMlflowPeer, venvEnv } from '../testkit/peers/mlflow.js';
import { OwnMlflow, listFiles, runFetch, sameFiles } from './fetch-helpers.js';

/**
 * `modelctl fetch` against a hostile tracking server (issue 14): a small HTTP server of the test's own that
 * speaks just enough of MLflow's REST API (download URI, artifact listing, artifact download) to lie about
 * sizes, stall, nest folders forever, send huge error bodies, echo credentials back, or point at the pod's own
 * files. The legitimate `file:` artifact root is shown against the real MLflow server.
 */

const MB = 1024 * 1024;
const ARTIFACTS = '/api/2.0/mlflow-artifacts/artifacts';

let work: string;
let server: Server | undefined;
let n = 0;
const outDir = (): string => path.join(work, `out-${++n}`);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-fetch-hostile-'));
});
afterEach(async () => {
  const s = server;
  server = undefined;
  if (s) await new Promise((r) => s.close(r).closeAllConnections());
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

type Handler = (req: IncomingMessage, res: ServerResponse, url: URL) => void | Promise<void>;

/** What the hostile server saw. */
interface Seen {
  requests: string[];
  /** body bytes of large answers written before the client hung up */
  sent: number;
  /** every request's headers */
  headers: IncomingMessage['headers'][];
}

async function hostile(handler: Handler): Promise<{ url: string; seen: Seen }> {
  const seen: Seen = { requests: [], sent: 0, headers: [] };
  const s = createServer((req, res) => {
    seen.requests.push(req.url ?? '');
    seen.headers.push(req.headers);
    Promise.resolve(handler(req, res, new URL(req.url ?? '/', 'http://x'))).catch(() => res.destroy());
  });
  server = s;
  await new Promise<void>((r) => s.listen(0, '127.0.0.1', () => r()));
  return { url: `http://127.0.0.1:${(s.address() as AddressInfo).port}`, seen };
}

function json(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  res.writeHead(status, { 'content-type': 'application/json', ...headers });
  res.end(JSON.stringify(body));
}

/** Writes `total` bytes (honouring backpressure) and counts what went out until the client hung up. */
async function sendLarge(
  res: ServerResponse,
  seen: Seen,
  total: number,
  head: Record<string, string> = {},
): Promise<void> {
  const status = Number(head[':status'] ?? 200);
  const headers = Object.fromEntries(Object.entries(head).filter(([k]) => k !== ':status'));
  res.writeHead(status, { 'content-length': String(total), ...headers });
  const chunk = Buffer.alloc(64 * 1024, 0x61);
  let closed = false;
  res.on('close', () => (closed = true));
  for (let done = 0; done < total && !closed;) {
    const part = chunk.subarray(0, Math.min(chunk.length, total - done));
    done += part.length;
    seen.sent += part.length;
    if (!res.write(part)) await drainedOrClosed(res);
  }
  if (!closed) res.end();
}

/**
 * Resolves on the response's next 'drain' or its 'close', leaving no listener behind: one wait per 64 KiB chunk
 * had left a 'close' listener each time (MaxListenersExceededWarning).
 */
function drainedOrClosed(res: ServerResponse): Promise<void> {
  return new Promise((resolve) => {
    const done = (): void => {
      res.off('drain', done).off('close', done);
      resolve();
    };
    res.on('drain', done).on('close', done);
  });
}

interface ListedFile {
  path: string;
  is_dir?: boolean;
  file_size?: number;
}

/**
 * A tracking server for `models:/evil/1`: the version lives at `mlflow-artifacts:/evil`, the artifact root lists
 * `files`, and `body(name)` answers each download (a default small body when it returns false).
 */
function mlflowLike(params: {
  artifactUri?: string;
  list?: (dir: string) => ListedFile[] | Promise<ListedFile[]>;
  files?: ListedFile[];
  body?: (name: string, res: ServerResponse) => boolean | Promise<boolean>;
}): Handler {
  return async (_req, res, url) => {
    if (url.pathname === '/api/2.0/mlflow/model-versions/get-download-uri') {
      return json(res, 200, { artifact_uri: params.artifactUri ?? 'mlflow-artifacts:/evil' });
    }
    if (url.pathname === ARTIFACTS) {
      return json(res, 200, { files: await listed(params, url.searchParams.get('path') ?? '') });
    }
    if (url.pathname.startsWith(`${ARTIFACTS}/`)) {
      const name = decodeURIComponent(url.pathname.slice(ARTIFACTS.length + 1));
      if (params.body && (await params.body(name, res))) return;
      res.writeHead(200, { 'content-length': '10' });
      return void res.end('0123456789');
    }
    json(res, 404, { error_code: 'ENDPOINT_NOT_FOUND', message: 'no such endpoint' });
  };
}

/** The listing of `dir`: `list(dir)`, else `files` at the artifact root and nothing below it. */
async function listed(
  params: { list?: (dir: string) => ListedFile[] | Promise<ListedFile[]>; files?: ListedFile[] },
  dir: string,
): Promise<ListedFile[]> {
  if (params.list) return params.list(dir);
  return dir === 'evil' ? (params.files ?? []) : [];
}

const MODEL = 'models:/evil/1';

/** Everything under `dir`, hidden staging folders included. */
async function everything(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true }).catch(() => [] as string[])).sort();
}

describe('modelctl fetch bounds what a tracking server can make it write', () => {
  it('stops a file that runs past its listed size and exits 2, without writing the rest', async () => {
    const { url, seen } = await hostile(
      mlflowLike({
        files: [
          { path: 'MLmodel', file_size: 10 },
          { path: 'model.onnx', file_size: 1000 },
        ],
        body: async (name, res) => {
          if (name !== 'evil/model.onnx') return false;
          await sendLarge(res, seen, 200 * MB);
          return true;
        },
      }),
    );
    const out = outDir();
    const run = await runFetch({ MODEL_URI: MODEL, OUTPUT_PATH: out, MLFLOW_TRACKING_URI: url, MAX_RETRIES: '2' });
    expect({ code: run.code, says: /model\.onnx.*more than the 1000 bytes listed/.test(run.output) }).toEqual({
      code: 2,
      says: true,
    });
    // the connection was dropped at the overrun, not after the server sent everything
    expect(seen.sent).toBeLessThan(48 * MB);
    expect(await everything(out)).toEqual([]);
  });

  it('refuses a model whose listed size is over FETCH_MAX_MODEL_GB before downloading anything', async () => {
    const { url, seen } = await hostile(
      mlflowLike({
        files: [
          { path: 'MLmodel', file_size: 10 },
          { path: 'model.onnx', file_size: 3 * 1024 * MB },
        ],
      }),
    );
    const run = await runFetch({
      MODEL_URI: MODEL,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: url,
      FETCH_MAX_MODEL_GB: '1',
    });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/3\.0 GiB.*FETCH_MAX_MODEL_GB \(1\)/);
    expect(seen.requests.filter((r) => r.startsWith(`${ARTIFACTS}/`))).toEqual([]);
  });

  it('stops a model whose files have no listed size once it passes FETCH_MAX_MODEL_GB', async () => {
    const { url, seen } = await hostile(
      mlflowLike({
        files: [{ path: 'MLmodel', file_size: 10 }, { path: 'model.onnx' }],
        body: async (name, res) => {
          if (name !== 'evil/model.onnx') return false;
          await sendLarge(res, seen, 200 * MB);
          return true;
        },
      }),
    );
    const run = await runFetch({
      MODEL_URI: MODEL,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: url,
      FETCH_MAX_MODEL_GB: '0.01',
    });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/FETCH_MAX_MODEL_GB \(0\.01\)/);
    expect(seen.sent).toBeLessThan(60 * MB);
  });

  it('cuts a body that stalls after FETCH_TIMEOUT_SECONDS of silence and exits 3 after its retries', async () => {
    const { url } = await hostile(
      mlflowLike({
        files: [
          { path: 'MLmodel', file_size: 10 },
          { path: 'model.onnx', file_size: 1000 },
        ],
        body: (name, res) => {
          if (name !== 'evil/model.onnx') return false;
          res.writeHead(200, { 'content-length': '1000' });
          res.write('0123456789'); // then nothing, forever
          return true;
        },
      }),
    );
    const started = Date.now();
    const run = await runFetch({
      MODEL_URI: MODEL,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: url,
      FETCH_TIMEOUT_SECONDS: '1',
      MAX_RETRIES: '1',
      BACKOFF_SECONDS: '0.05',
    });
    expect(run.code).toBe(3);
    expect(run.output).toMatch(/model\.onnx.*(timeout|stalled|broke off)/i);
    expect(Date.now() - started).toBeLessThan(20_000);
  });
});

describe('modelctl fetch bounds the artifact tree walk and says which bound was hit', () => {
  it('a folder nested forever: the depth bound', async () => {
    const { url, seen } = await hostile(
      mlflowLike({
        list: (dir) => [
          { path: 'MLmodel', file_size: 10 },
          { path: `${dir}/d`, is_dir: true },
        ],
      }),
    );
    const run = await runFetch({ MODEL_URI: MODEL, OUTPUT_PATH: outDir(), MLFLOW_TRACKING_URI: url });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/deeper than \d+ folders/);
    expect(seen.requests.length).toBeLessThan(100);
  });

  it('fifty sub-folders in every folder: the listing request bound', async () => {
    const { url, seen } = await hostile(
      mlflowLike({
        list: (dir) => [
          { path: 'MLmodel', file_size: 10 },
          ...Array.from({ length: 50 }, (_, i) => ({ path: `${dir}/d${i}`, is_dir: true })),
        ],
      }),
    );
    const run = await runFetch({ MODEL_URI: MODEL, OUTPUT_PATH: outDir(), MLFLOW_TRACKING_URI: url });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/more than \d+ folder listings/);
    expect(seen.requests.length).toBeLessThan(3000);
  });

  it('a folder listing 200 000 files: the entry bound', async () => {
    const { url } = await hostile(
      mlflowLike({
        files: [
          { path: 'MLmodel', file_size: 10 },
          ...Array.from({ length: 200_000 }, (_, i) => ({ path: `f${i}`, file_size: 1 })),
        ],
      }),
    );
    const run = await runFetch({ MODEL_URI: MODEL, OUTPUT_PATH: outDir(), MLFLOW_TRACKING_URI: url });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/more than \d+ files/);
  });
});

describe('modelctl fetch reads error bodies up to a small cap and classifies them by status', () => {
  it('a 404 with a 200 MB body: exit 2 at once, the body not read through', async () => {
    const { url, seen } = await hostile(async (_req, res) => {
      await sendLarge(res, seen, 200 * MB, { ':status': '404', 'content-type': 'application/json' });
    });
    const run = await runFetch({ MODEL_URI: MODEL, OUTPUT_PATH: outDir(), MLFLOW_TRACKING_URI: url });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/version 1 of model "evil" not found/);
    expect(seen.sent).toBeLessThan(48 * MB);
  });

  it('a 503 with a 200 MB body: retried, then exit 3', async () => {
    const { url, seen } = await hostile(async (_req, res) => {
      await sendLarge(res, seen, 200 * MB, { ':status': '503' });
    });
    const run = await runFetch({
      MODEL_URI: MODEL,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: url,
      MAX_RETRIES: '1',
      BACKOFF_SECONDS: '0.05',
    });
    expect(run.code).toBe(3);
    expect(run.output).toMatch(/answered 503/);
    expect(seen.requests).toHaveLength(2);
    expect(seen.sent).toBeLessThan(96 * MB);
  });
});

describe('modelctl fetch never shows a credential, even one the server echoes back', () => {
  const token = 'tok-3c5a0e9d71b24f68';
  const password = 'pw-8e1f5b2a9c';

  it.each([
    ['a bearer token', { MLFLOW_TRACKING_TOKEN: token }, token],
    ['a password', { MLFLOW_TRACKING_USERNAME: 'alice', MLFLOW_TRACKING_PASSWORD: password }, password],
  ])('%s in the error message, the error code and a header', async (_name, credentials, secret) => {
    const { url, seen } = await hostile((_req, res) =>
      json(
        res,
        400,
        { error_code: `BAD_${secret}`, message: `credential ${secret} is not valid for ${secret}` },
        { 'x-echo': secret, 'www-authenticate': `Bearer realm="${secret}"` },
      ),
    );
    const run = await runFetch({
      MODEL_URI: MODEL,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: url,
      LOG_LEVEL: 'trace',
      ...credentials,
    });
    expect(seen.headers[0]?.authorization).toBeDefined();
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/refused version 1 of model "evil" \(400\)/);
    expect(run.output).not.toContain(secret);
  });
});

describe('modelctl fetch takes artifact locations only from where they may be', () => {
  it.each([
    ['a file:// location', 'file:///etc'],
    ['a bare absolute path', '/etc'],
  ])('refuses %s from the tracking server with exit 2 and copies nothing', async (_name, location) => {
    const { url } = await hostile(mlflowLike({ artifactUri: location }));
    const out = outDir();
    const run = await runFetch({ MODEL_URI: MODEL, OUTPUT_PATH: out, MLFLOW_TRACKING_URI: url });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/\/etc.*FETCH_FILE_ARTIFACT_ROOTS/);
    expect(await everything(out)).toEqual([]);
  });

  it('refuses a file: location under an allowed root that holds no MLmodel', async () => {
    const shared = path.join(work, 'shared-no-mlmodel');
    await mkdir(path.join(shared, 'model'), { recursive: true });
    await writeFile(path.join(shared, 'model', 'model.onnx'), 'x');
    const { url } = await hostile(mlflowLike({ artifactUri: `file://${shared}/model` }));
    const out = outDir();
    const run = await runFetch({
      MODEL_URI: MODEL,
      OUTPUT_PATH: out,
      MLFLOW_TRACKING_URI: url,
      FETCH_FILE_ARTIFACT_ROOTS: shared,
    });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/no MLmodel/);
    expect(await everything(out)).toEqual([]);
  });

  it.each([
    ['a climbing name', '../escape'],
    ['an absolute name', '/etc/passwd'],
    ['a name with a control character', 'model\u0007.onnx'],
    ['a name with a newline', 'model\n.onnx'],
  ])('refuses %s in a listing with exit 2', async (_name, bad) => {
    const { url } = await hostile(
      mlflowLike({
        files: [
          { path: 'MLmodel', file_size: 10 },
          { path: bad, file_size: 10 },
        ],
      }),
    );
    const out = outDir();
    const run = await runFetch({ MODEL_URI: MODEL, OUTPUT_PATH: out, MLFLOW_TRACKING_URI: url });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/unsafe file name/);
    expect(await everything(out)).toEqual([]);
  });
});

describe('modelctl fetch with a file: artifact root the tracking server really shares (real MLflow)', () => {
  const mlflow = readMlflowPeer();
  const v1 = mlflow.models.iris.versions.find((v) => v.version === '1')!;
  let own: OwnMlflow;
  let location: string;

  beforeAll(async () => {
    own = await OwnMlflow.start(path.join(work, 'own-mlflow'));
    location = own.artifactDir(v1.artifactPath);
    // the registry now says version 1 lives at a file: path, as a server without --serve-artifacts does
    const python = readMlflowPeer().python;
    await promisify(execFile)(
      python,
      [
        '-c',
        'import sqlite3,sys; c=sqlite3.connect(sys.argv[1]); ' +
          'c.execute("update model_versions set storage_location=?, source=? where name=? and version=1", ' +
          '(sys.argv[2], sys.argv[2], sys.argv[3])); c.commit()',
        path.join(own.dir, 'mlflow.db'),
        `file://${location}`,
        mlflow.models.iris.name,
      ],
      { env: venvEnv(python) },
    );
  }, 240_000);
  afterAll(async () => {
    await own.kill();
  });

  it.each([['emptydir'], ['pvc']])('%s: copies it when FETCH_FILE_ARTIFACT_ROOTS allows it', async (strategy) => {
    const out = outDir();
    const run = await runFetch({
      MODEL_URI: `models:/${mlflow.models.iris.name}/1`,
      OUTPUT_PATH: out,
      STORAGE_STRATEGY: strategy,
      CACHE_PATH: path.join(work, `file-root-cache-${strategy}`),
      MLFLOW_TRACKING_URI: own.url,
      FETCH_FILE_ARTIFACT_ROOTS: path.join(own.dir, 'artifacts'),
    });
    expect({ code: run.code, output: run.output }).toEqual({ code: 0, output: expect.stringContaining('model ready') });
    expect(await listFiles(path.join(out, 'model'))).toEqual(v1.files);
    expect(await sameFiles(path.join(out, 'model'), v1.localPath)).toBe(true);
  });

  it.each([['emptydir'], ['pvc']])('%s: refuses it clearly without FETCH_FILE_ARTIFACT_ROOTS', async (strategy) => {
    const out = outDir();
    const run = await runFetch({
      MODEL_URI: `models:/${mlflow.models.iris.name}/1`,
      OUTPUT_PATH: out,
      STORAGE_STRATEGY: strategy,
      CACHE_PATH: path.join(work, `file-root-refused-${strategy}`),
      MLFLOW_TRACKING_URI: own.url,
    });
    expect(run.code).toBe(2);
    expect(run.output).toContain(`${location}`);
    expect(run.output).toMatch(/FETCH_FILE_ARTIFACT_ROOTS/);
  });
});
