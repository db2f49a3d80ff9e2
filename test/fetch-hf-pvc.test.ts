import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, utimes } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { CoreV1Api } from '@kubernetes/client-node';
import { entryPaths } from '../shared/model-cache/cache-layout.js';
import { tryAcquireLock } from '../shared/model-cache/cache-lock.js';
import { readHub } from '../testkit/peers/hub.js';
import { jsonLines, listFiles, runFetch } from './fetch-helpers.js';
import { adminKubeConfig, createTestNamespace, kubePeer } from '../testkit/kube-helpers.js';
import { runModelctl } from '../testkit/modelctl-process.js';

/**
 * `hf://` with STORAGE_STRATEGY=pvc writes into the shared cache's own layout (issue 14): an `entries/hf-…` entry
 * with a manifest, downloaded under the entry's lease with the free-space check, and cleanup sees it, keeps it
 * while leased or used by a pod, and evicts it by TTL, as it does MLflow entries. Before, the download went to an
 * undocumented `CACHE_PATH/hf-cache` that cleanup never looked at.
 */
const hub = readHub();
const tiny = hub.repos.tiny;
const DAY = 86_400_000;

let work: string;
let ns: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-fetch-hf-pvc-'));
  ns = await createTestNamespace('fetch-hf-pvc');
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** `modelctl fetch hf://<tiny>@v1.0` with pvc into `cache`, an empty node cache, output `<work>/<out>`. */
async function fetchIntoPvc(cache: string, out: string, uri = `hf://${tiny.id}@v1.0`) {
  const nodeCache = path.join(work, `${out}-node-cache`);
  await mkdir(nodeCache, { recursive: true });
  return runFetch({
    MODEL_URI: uri,
    STORAGE_STRATEGY: 'pvc',
    CACHE_PATH: cache,
    OUTPUT_PATH: path.join(work, out),
    HF_HUB_CACHE: nodeCache,
    HF_ENDPOINT: hub.url,
  });
}

/** The one entry under `cache/entries`, which must be an hf entry. */
async function onlyEntry(cache: string): Promise<string> {
  const names = await readdir(path.join(cache, 'entries'));
  expect(names).toEqual([expect.stringMatching(/^hf-[0-9a-f]{32}$/)]);
  return names[0]!;
}

/** `modelctl cleanup --once` on `cache` in the test namespace: its exit code and summary. */
async function runCleanup(cache: string): Promise<{ code: number | string; summary: Record<string, unknown> }> {
  const proc = runModelctl(['cleanup', '--once'], {
    CACHE_PATH: cache,
    NAMESPACE: ns,
    TTL_DAYS: '7',
    DRY_RUN: 'false',
    KUBECONFIG: kubePeer().kubeconfig,
    LOG_LEVEL: 'warn',
  });
  const code = await proc.exited;
  const summary = jsonLines(proc.output()).find((l) => 'removed' in l) ?? { output: proc.output() };
  return { code, summary };
}

describe('modelctl fetch hf:// with STORAGE_STRATEGY=pvc', () => {
  it('downloads into a cache entry of the shared layout (manifest with sha256), and a second fetch is a hit', async () => {
    const cache = path.join(work, 'pvc');
    const first = await fetchIntoPvc(cache, 'pvc-a');
    expect({ code: first.code, output: first.output }).toEqual({
      code: 0,
      output: expect.stringContaining('"source":"hf-downloaded"'),
    });
    expect((await readdir(cache)).sort()).not.toEqual(expect.arrayContaining(['hf-cache']));
    const key = await onlyEntry(cache);
    const entry = entryPaths(cache, key);
    expect(await readlink(path.join(work, 'pvc-a', 'model'))).toBe(entry.modelDir);
    const names = Object.keys(tiny.files).sort();
    expect(await listFiles(entry.modelDir)).toEqual(names);
    const manifest = JSON.parse(await readFile(entry.manifest, 'utf8')) as {
      kind: string;
      source: { uri: string; resolved: string };
      files: { path: string; sha256: string }[];
    };
    expect(manifest.kind).toBe('hf');
    expect(manifest.source).toMatchObject({ uri: `hf://${tiny.id}@v1.0`, resolved: `hf://${tiny.id}@${tiny.commit}` });
    expect(Object.fromEntries(manifest.files.map((f) => [f.path, f.sha256]))).toEqual(
      Object.fromEntries(names.map((n) => [n, tiny.files[n]!.sha256])),
    );
    for (const name of names) {
      const digest = createHash('sha256')
        .update(await readFile(path.join(entry.modelDir, name)))
        .digest('hex');
      expect({ name, digest }).toEqual({ name, digest: tiny.files[name]!.sha256 });
    }

    const second = await fetchIntoPvc(cache, 'pvc-b');
    expect(second.code).toBe(0);
    expect(second.lines.find((l) => l.msg === 'model ready')).toMatchObject({ source: 'cache-hit' });
    expect(await readlink(path.join(work, 'pvc-b', 'model'))).toBe(entry.modelDir);
    expect(await onlyEntry(cache)).toBe(key);
  });
});

describe('cleanup governs the hf:// entries fetch writes to the PVC cache', () => {
  it('keeps an expired hf entry while it is leased or a pod uses it, then evicts it by TTL', async () => {
    const cache = path.join(work, 'pvc-cleanup');
    expect((await fetchIntoPvc(cache, 'cleanup-out')).code).toBe(0);
    const key = await onlyEntry(cache);
    const entry = entryPaths(cache, key);
    const old = new Date(Date.now() - 30 * DAY);
    await utimes(entry.lastUsed, old, old);

    // 1. a fetch holds the entry's lease (it is being written)
    const lease = await tryAcquireLock({ lockPath: entry.lock });
    expect(lease).not.toBeNull();
    let run;
    try {
      run = await runCleanup(cache);
    } finally {
      await lease!.release();
    }
    expect(run.code).toBe(0);
    expect(run.summary).toMatchObject({ removed: [], kept: [{ key, reason: 'locked' }] });

    // 2. an active pod asks for the same repo (another spelling of its revision)
    const core = adminKubeConfig().makeApiClient(CoreV1Api);
    const pod = 'uses-tiny';
    await core.createNamespacedPod({
      namespace: ns,
      body: {
        metadata: { name: pod },
        spec: {
          initContainers: [
            { name: 'fetch', image: 'modelctl', env: [{ name: 'MODEL_URI', value: `hf://${tiny.id}` }] },
          ],
          containers: [{ name: 'serve', image: 'modelctl' }],
        },
      },
    });
    try {
      run = await runCleanup(cache);
    } finally {
      await core.deleteNamespacedPod({ namespace: ns, name: pod, gracePeriodSeconds: 0 });
    }
    expect(run.code).toBe(0);
    expect(run.summary).toMatchObject({ removed: [], kept: [{ key, reason: 'in-use', pods: [pod] }] });

    // 3. nothing holds it: evicted by TTL, its bytes counted
    run = await runCleanup(cache);
    expect(run.code).toBe(0);
    const bytes = Object.values(tiny.files).reduce((n, f) => n + f.size, 0);
    expect(run.summary).toMatchObject({
      removed: [{ key, reason: 'ttl', uri: `hf://${tiny.id}@v1.0`, bytes: expect.any(Number) }],
    });
    const removed = (run.summary['removed'] as { bytes: number }[])[0]!;
    expect(removed.bytes).toBeGreaterThanOrEqual(bytes);
    expect(await readdir(path.join(cache, 'entries'))).toEqual([]);
  });
});
