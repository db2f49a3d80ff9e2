import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { existsSync } from 'node:fs';
import { lstat, mkdir, mkdtemp, readdir, readFile, realpath, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createTestNamespace, kubePeer } from '../testkit/kube-helpers.js';
import { readMlflowPeer } from '../testkit/peers/mlflow.js';
import { runModelctl, startModelctlServe } from '../testkit/modelctl-process.js';
import { runFetch, type FetchRun } from './fetch-helpers.js';

/**
 * MODEL_ENV=install: fetch builds the model's requirements.txt into a venv beside the model in the PVC cache
 * entry, once, and serve runs the pyfunc workers in it. The env layers on SERVE_PYTHON (the testing ground's
 * venv, which has the iris model's pins), so pip resolves without downloading.
 */
const mlflow = readMlflowPeer();
const iris = mlflow.models.iris;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-model-env-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

function fetchEnv(cache: string, output: string): Record<string, string> {
  return {
    MODEL_URI: `models:/${iris.name}/1`,
    STORAGE_STRATEGY: 'pvc',
    CACHE_PATH: cache,
    OUTPUT_PATH: output,
    MLFLOW_TRACKING_URI: mlflow.url,
    MODEL_ENV: 'install',
    SERVE_PYTHON: mlflow.python,
  };
}

const envLine = (run: FetchRun) => run.lines.find((l) => l['msg'] === 'model env ready');
const builds = (run: FetchRun) => run.lines.filter((l) => l['msg'] === 'building the model env').length;

/** The env folder(s) of the one entry in `cache`. */
async function envsOf(cache: string): Promise<{ envsDir: string; names: string[] }> {
  const [entry] = await readdir(path.join(cache, 'entries'));
  const envsDir = path.join(cache, 'entries', entry!, 'envs');
  return { envsDir, names: (await readdir(envsDir)).sort() };
}

/** Bytes of the files under `dir` (links not followed). */
async function bytesUnder(dir: string): Promise<number> {
  let total = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) total += await bytesUnder(p);
    else if (e.isFile()) total += (await lstat(p)).size;
  }
  return total;
}

describe('MODEL_ENV=install', () => {
  const cache = () => path.join(work, 'cache');

  it('4 fetches at once build the env once, beside the model in the cache entry', async () => {
    const runs = await Promise.all(
      Array.from({ length: 4 }, (_v, i) => runFetch(fetchEnv(cache(), path.join(work, `out-${i}`)))),
    );
    expect(runs.map((r) => r.code)).toEqual([0, 0, 0, 0]);
    expect(runs.map(builds).reduce((a, b) => a + b, 0)).toBe(1);
    expect(runs.map((r) => envLine(r)?.['source']).sort()).toEqual([
      'env-built',
      'env-cached',
      'env-cached',
      'env-cached',
    ]);
    const { envsDir, names } = await envsOf(cache());
    expect(names).toHaveLength(1); // no temporary build folder left
    const dirs = new Set(runs.map((r) => envLine(r)?.['dir']));
    expect([...dirs]).toEqual([path.join(await realpath(envsDir), names[0]!)]);
  }, 300_000);

  it('a later fetch reuses the env without pip, and serve runs the model in it', async () => {
    const output = path.join(work, 'out-later');
    const run = await runFetch(fetchEnv(cache(), output));
    expect(run.code).toBe(0);
    expect(builds(run)).toBe(0);
    expect(envLine(run)).toMatchObject({ source: 'env-cached' });
    expect(Number(envLine(run)?.['ms'])).toBeLessThan(2000);
    const server = await startModelctlServe(
      {
        MODEL_LOCAL_PATH: output,
        MODEL_ENV: 'install',
        SERVE_RUNTIME: 'pyfunc',
        SERVE_MAX_CONCURRENCY: '1',
        LOG_LEVEL: 'info',
      },
      { readyTimeoutMs: 120_000 },
    );
    try {
      const res = await fetch(`${server.url}/invocations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
      });
      expect(res.status).toBe(200);
      expect(await res.json()).toEqual({ predictions: { label: [0], probabilities: [expect.any(Array)] } });
      expect(server.output()).toContain(`${String(envLine(run)?.['dir'])}/bin/python`);
    } finally {
      await server.stop();
    }
  }, 180_000);

  it('never uses a half-built or corrupted env: serve refuses it, the next fetch rebuilds it', async () => {
    const { envsDir, names } = await envsOf(cache());
    const env = path.join(envsDir, names[0]!);
    // a builder that died mid-way, and an env whose env.json no longer names these requirements
    await mkdir(path.join(envsDir, `.building-${names[0]}.deadbeef0000`, 'bin'), { recursive: true });
    await writeFile(path.join(env, 'env.json'), JSON.stringify({ requirementsSha256: 'f'.repeat(64) }));
    const output = path.join(work, 'out-0');
    const refused = runModelctl(['serve'], {
      MODEL_LOCAL_PATH: output,
      MODEL_ENV: 'install',
      SERVE_RUNTIME: 'pyfunc',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
    });
    expect(await refused.exited).toBe(1);
    expect(refused.output()).toMatch(/modelctl serve: MODEL_ENV=install: no complete env .* run modelctl fetch/);

    const run = await runFetch(fetchEnv(cache(), output));
    expect(run.code).toBe(0);
    expect(envLine(run)).toMatchObject({ source: 'env-built' });
    expect((await envsOf(cache())).names).toEqual(names);
    const marker = JSON.parse(await readFile(path.join(env, 'env.json'), 'utf8')) as { requirementsSha256: string };
    expect(marker.requirementsSha256).not.toBe('f'.repeat(64));
  }, 300_000);

  it('is evicted by cleanup with its cache entry', async () => {
    const { envsDir, names } = await envsOf(cache());
    const env = path.join(envsDir, names[0]!);
    expect(existsSync(path.join(env, 'bin', 'python'))).toBe(true);
    const envBytes = await bytesUnder(env);
    expect(envBytes).toBeGreaterThan(0);
    // a namespace where no pod uses the entry, and a TTL every entry has outlived
    const namespace = await createTestNamespace('model-env');
    await new Promise((r) => setTimeout(r, 20));
    const cleanup = runModelctl(['cleanup', '--once'], {
      CACHE_PATH: cache(),
      NAMESPACE: namespace,
      KUBECONFIG: kubePeer().kubeconfig,
      TTL_DAYS: '0',
      DRY_RUN: 'false',
      LOG_LEVEL: 'silent',
    });
    expect(await cleanup.exited).toBe(0);
    const summary = JSON.parse(cleanup.output()) as {
      removed: { key: string; reason: string }[];
      bytesRemoved: number;
    };
    const [entry] = await readdir(path.join(cache(), 'entries'));
    expect(entry).toBeUndefined();
    expect(summary.removed).toEqual([
      expect.objectContaining({ key: path.basename(path.dirname(envsDir)), reason: 'ttl' }),
    ]);
    expect(existsSync(env)).toBe(false);
    // the env's bytes were counted in what the entry freed (MAX_SIZE_GB sees them)
    expect(summary.bytesRemoved).toBeGreaterThanOrEqual(envBytes);
  }, 120_000);

  it('fails the fetch in one line, naming the requirement, when pip cannot install it', async () => {
    const model = path.join(work, 'bad-model');
    await mkdir(model, { recursive: true });
    await writeFile(path.join(model, 'MLmodel'), 'flavors:\n  python_function:\n    loader_module: x\n');
    await writeFile(path.join(model, 'requirements.txt'), 'modelctl-no-such-package-xyz==0.0.1\n');
    const run = await runFetch({
      MODEL_URI: model,
      OUTPUT_PATH: path.join(work, 'out-bad'),
      MODEL_ENV: 'install',
      SERVE_PYTHON: mlflow.python,
      PIP_NO_INDEX: '1', // no registry needed to fail: pip looks nowhere
    });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(
      /modelctl fetch: MODEL_ENV=install: pip install -r requirements.txt failed .*modelctl-no-such-package-xyz/,
    );
    expect(await readdir(path.join(work, 'out-bad', 'envs'))).toEqual([]);
  }, 120_000);
});
