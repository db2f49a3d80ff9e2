import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdtemp, readFile, readdir, realpath, rm, stat, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readMlflowPeer } from '../testkit/peers/mlflow.js';
import { runModelctl } from '../testkit/modelctl-process.js';
import { OwnMlflow, expectOnlyModelIn, jsonLines, listFiles, runFetch, sameFiles } from './fetch-helpers.js';

const mlflow = readMlflowPeer();
const iris = mlflow.models.iris;
const v1 = iris.versions.find((v) => v.version === '1')!;
const BIG_MB = 256;

let work: string;
let own: OwnMlflow;
/** the files version 1 has on the own server (fixture files + big.bin) */
let v1Dir: string;

/** Writes `mb` MiB of random bytes (incompressible, so no transfer shortcut). */
async function writeBigFile(file: string, mb: number): Promise<void> {
  const out = createWriteStream(file);
  const chunk = randomBytes(1024 * 1024);
  for (let i = 0; i < mb; i++) {
    chunk.writeUInt32LE(i, 0);
    if (!out.write(Buffer.from(chunk))) await new Promise<void>((r) => out.once('drain', () => r()));
  }
  await new Promise<void>((resolve, reject) => out.end((err?: Error | null) => (err ? reject(err) : resolve())));
}

/** Fetch's settings for iris v1 on a pvc cache at `cache` (progress off). */
function irisV1OnPvc(cache: string): Record<string, string> {
  return {
    MODEL_URI: `models:/${iris.name}/1`,
    STORAGE_STRATEGY: 'pvc',
    CACHE_PATH: cache,
    MLFLOW_TRACKING_URI: own.url,
    PROGRESS: 'none',
  };
}

/** Starts a fetch into `output`, SIGKILLs it once 1 MiB of its download is on disk; resolves how it exited. */
async function killHolderMidDownload(env: Record<string, string>, output: string) {
  const holder = runModelctl(['fetch'], { ...env, OUTPUT_PATH: output });
  await waitForPartialFile(path.join(env['CACHE_PATH']!, 'tmp'), 1024 * 1024);
  holder.child.kill('SIGKILL');
  return holder.exited;
}

/** Resolves when some file under `dir` whose name matches `pattern` holds at least `bytes` bytes. */
async function waitForPartialFile(dir: string, bytes: number, timeoutMs = 60_000): Promise<string> {
  const deadline = Date.now() + timeoutMs;
  while (Date.now() < deadline) {
    const names = await readdir(dir, { recursive: true }).catch(() => [] as string[]);
    for (const name of names.filter((n) => n.endsWith('big.bin'))) {
      const size = (await stat(path.join(dir, name)).catch(() => null))?.size ?? 0;
      if (size >= bytes) return path.join(dir, name);
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  throw new Error(`no partial big.bin under ${dir} after ${timeoutMs} ms`);
}

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-fetch-cache-'));
  own = await OwnMlflow.start(path.join(work, 'mlflow'));
  v1Dir = own.artifactDir(v1.artifactPath);
  await writeBigFile(path.join(v1Dir, 'big.bin'), BIG_MB);
}, 240_000);

afterAll(async () => {
  await own?.kill();
  await rm(work, { recursive: true, force: true });
});

describe('pvc cache', () => {
  it('8 fetches of one model at once download it once; all succeed with identical files', async () => {
    const cache = path.join(work, 'cache-8');
    const procs = Array.from({ length: 8 }, (_, i) =>
      runModelctl(['fetch'], {
        MODEL_URI: `models:/${iris.name}/1`,
        OUTPUT_PATH: path.join(work, `out-8-${i}`),
        STORAGE_STRATEGY: 'pvc',
        CACHE_PATH: cache,
        MLFLOW_TRACKING_URI: own.url,
        PROGRESS: 'none',
      }),
    );
    const codes = await Promise.all(procs.map((p) => p.exited));
    expect(codes).toEqual(Array(8).fill(0));
    const ready = procs.map((p) => jsonLines(p.output()).find((l) => l.msg === 'model ready')!);
    expect(ready.filter((r) => r.source === 'downloaded')).toHaveLength(1);
    expect(ready.filter((r) => r.source === 'cache-hit')).toHaveLength(7);
    expect(new Set(ready.map((r) => r.key)).size).toBe(1);
    const real = await Promise.all(procs.map((_, i) => realpath(path.join(work, `out-8-${i}`, 'model'))));
    expect(new Set(real).size).toBe(1);
    expect(await sameFiles(real[0]!, v1Dir)).toBe(true);
    expect(await readdir(path.join(cache, 'tmp'))).toEqual([]);
    expect(await readdir(path.join(cache, 'locks'))).toEqual([]);
    // the tracking server's access log: big.bin was sent once
    expect(await own.countRequests(`${v1.artifactPath}/big.bin`)).toBe(1);
  }, 300_000);

  it('shares one entry between a stage and the version number it points at', async () => {
    const cache = path.join(work, 'cache-share');
    const env = { STORAGE_STRATEGY: 'pvc', CACHE_PATH: cache, MLFLOW_TRACKING_URI: own.url };
    const first = await runFetch({
      ...env,
      MODEL_URI: `models:/${iris.name}/Production`,
      OUTPUT_PATH: path.join(work, 'share-a'),
    });
    const second = await runFetch({
      ...env,
      MODEL_URI: `models:/${iris.name}/${iris.stages.Production}`,
      OUTPUT_PATH: path.join(work, 'share-b'),
    });
    const a = first.lines.find((l) => l.msg === 'model ready')!;
    const b = second.lines.find((l) => l.msg === 'model ready')!;
    expect([first.code, second.code, a.source, b.source]).toEqual([0, 0, 'downloaded', 'cache-hit']);
    expect(b.key).toBe(a.key);
    expect(await readdir(path.join(cache, 'entries'))).toEqual([a.key]);
  }, 300_000);

  it('detects a truncated entry and fetches it again', async () => {
    const cache = path.join(work, 'cache-corrupt');
    const env = {
      MODEL_URI: `models:/${iris.name}/1`,
      STORAGE_STRATEGY: 'pvc',
      CACHE_PATH: cache,
      MLFLOW_TRACKING_URI: own.url,
    };
    const first = await runFetch({ ...env, OUTPUT_PATH: path.join(work, 'corrupt-a') });
    expect(first.code).toBe(0);
    const key = first.lines.find((l) => l.msg === 'model ready')!.key as string;
    await truncate(path.join(cache, 'entries', key, 'model', 'big.bin'), 1000);
    const second = await runFetch({ ...env, OUTPUT_PATH: path.join(work, 'corrupt-b') });
    expect(second.code).toBe(0);
    expect(second.output).toContain('cache entry is broken, fetching it again');
    expect(second.lines.find((l) => l.msg === 'model ready')!.source).toBe('downloaded');
    expect(await sameFiles(path.join(work, 'corrupt-b', 'model'), v1Dir)).toBe(true);
  }, 300_000);

  it('a holder killed with SIGKILL mid-download does not block the next fetch for long', async () => {
    const cache = path.join(work, 'cache-kill');
    const env = irisV1OnPvc(cache);
    expect(await killHolderMidDownload(env, path.join(work, 'kill-a'))).toBe('SIGKILL');
    expect(await readdir(path.join(cache, 'locks'))).toHaveLength(1);
    const started = Date.now();
    const next = await runFetch({ ...env, OUTPUT_PATH: path.join(work, 'kill-b') });
    expect(next.code).toBe(0);
    expect(next.output).toContain('took over a stale cache lock');
    // same host: the dead pid is seen at once, no need to wait LOCK_STALE_SECONDS (30)
    expect(Date.now() - started).toBeLessThan(25_000);
    expect(await sameFiles(path.join(work, 'kill-b', 'model'), v1Dir)).toBe(true);
    expect(await readdir(path.join(cache, 'tmp'))).toEqual([]);
  }, 300_000);

  it('a holder on another pod that stopped its heartbeat is taken over after LOCK_STALE_SECONDS', async () => {
    const cache = path.join(work, 'cache-stale');
    const env = irisV1OnPvc(cache);
    await killHolderMidDownload(env, path.join(work, 'stale-a'));
    // as if the crashed holder ran on another node: no pid to check, only its heartbeat, which has stopped
    const [lockName] = await readdir(path.join(cache, 'locks'));
    const lockFile = path.join(cache, 'locks', lockName!);
    const owner = JSON.parse(await readFile(lockFile, 'utf8')) as Record<string, unknown>;
    await writeFile(lockFile, JSON.stringify({ ...owner, host: 'fetch-pod-on-another-node' }));
    const started = Date.now();
    const next = await runFetch({ ...env, OUTPUT_PATH: path.join(work, 'stale-b'), LOCK_STALE_SECONDS: '3' });
    const waited = Date.now() - started;
    expect(next.code).toBe(0);
    expect(next.output).toContain('waiting for the download of another pod');
    expect(next.output).toContain('took over a stale cache lock');
    expect(waited).toBeGreaterThanOrEqual(3000);
    expect(waited).toBeLessThan(30_000);
    expect(await sameFiles(path.join(work, 'stale-b', 'model'), v1Dir)).toBe(true);
  }, 300_000);
});

describe('emptydir through a server crash', () => {
  it('completes within its retries when the server is stopped mid-download and restarted', async () => {
    const out = path.join(work, 'restart');
    const fetching = runModelctl(['fetch'], {
      MODEL_URI: `models:/${iris.name}/1`,
      OUTPUT_PATH: out,
      MLFLOW_TRACKING_URI: own.url,
      MAX_RETRIES: '10',
      BACKOFF_SECONDS: '1',
      PROGRESS: 'none',
    });
    const partial = await waitForPartialFile(out, 1024 * 1024);
    await own.kill();
    const cutAt = (await stat(partial).catch(() => null))?.size ?? 0;
    await new Promise((r) => setTimeout(r, 2000));
    await own.restart();
    expect(await fetching.exited).toBe(0);
    const lines = jsonLines(fetching.output());
    expect(lines.some((l) => l.msg === 'retrying')).toBe(true);
    expect(cutAt).toBeLessThan(BIG_MB * 1024 * 1024);
    expect(await sameFiles(path.join(out, 'model'), v1Dir)).toBe(true);
    await expectOnlyModelIn(out, await listFiles(v1Dir));
  }, 400_000);
});

describe('an artifact store the proxy does not serve', () => {
  it('is refused with exit 2 and says how to enable the proxy', async () => {
    const api = `${own.url}/api/2.0/mlflow`;
    const post = (p: string, body: unknown) =>
      fetch(`${api}/${p}`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify(body),
      });
    expect((await post('registered-models/create', { name: 'on-s3' })).status).toBe(200);
    expect((await post('model-versions/create', { name: 'on-s3', source: 's3://models-bucket/iris' })).status).toBe(
      200,
    );
    const out = path.join(work, 's3');
    const run = await runFetch({ MODEL_URI: 'models:/on-s3/1', OUTPUT_PATH: out, MLFLOW_TRACKING_URI: own.url });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(
      /stored at s3:\/\/models-bucket\/iris, which the tracking server .* does not proxy.*--serve-artifacts/,
    );
    expect(await listFiles(out)).toEqual([]);
  });
});
