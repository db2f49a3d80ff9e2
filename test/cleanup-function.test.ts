import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { chmod, mkdir, mkdtemp, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
import { createServer } from 'node:http';
import { request as httpsRequest } from 'node:https';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { CloudEvent, HTTP } from 'cloudevents';
import { Registry } from 'prom-client';
import { createCleanupMetrics } from '../functions/cleanup/cleanup-metrics.js';
import type { CleanupSummary } from '../functions/cleanup/run-cleanup.js';
import { startCleanup } from '../functions/cleanup/start-cleanup.js';
import type { RunningServer } from '../shared/http/start-http-server.js';
import { createPodLister } from '../shared/k8s/list-pods.js';
import { createLogger } from '../shared/log/create-logger.js';
import { cacheDirs, entryKey, entryPaths, requestRefPath } from '../shared/model-cache/cache-layout.js';
import { tryAcquireLock, type HeldLock } from '../shared/model-cache/cache-lock.js';
import { touchLastUsed } from '../shared/model-cache/last-used.js';
import { writeManifest } from '../shared/model-cache/manifest.js';
import {
  adminKubeConfig,
  createTestNamespace,
  kubeConfigAsServiceAccount,
  kubePeer,
  runKubectl,
  writeServiceAccountKubeconfig,
} from '../testkit/kube-helpers.js';
import { readPeers } from '../testkit/peers/peer-run.js';

/**
 * cleanup on a generated shared cache (fetch's layout, written with shared/model-cache/) with entries of known
 * ages and sizes, and Pods created in the real kube-apiserver that use some of them. cleanup runs as the
 * ServiceAccount bound to the Role of knative/cleanup/rbac.yaml.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');
const MiB = 1024 * 1024;
const DAY = 86_400_000;

let ns: string;
let core: CoreV1Api;
let listPods: ReturnType<typeof createPodLister>;
const now = Date.now();

interface GeneratedEntry {
  key: string;
  uri: string;
  name?: string;
  bytes: number;
  ageDays: number;
}

/** Entry of `label`: a key made the way fetch makes them. */
function spec(label: string, uri: string, size: { MiB: number; ageDays: number; name?: string }): GeneratedEntry {
  return {
    key: entryKey('mlflow', ['http://mlflow.test', label]),
    uri,
    bytes: Math.round(size.MiB * MiB),
    ageDays: size.ageDays,
    ...(size.name ? { name: size.name } : {}),
  };
}

const E = {
  expired: spec('expired', 'models:/expired/1', { MiB: 3, ageDays: 10, name: 'expired' }),
  inUse: spec('in-use', 'models:/served/3', { MiB: 2, ageDays: 9, name: 'served' }),
  locked: spec('locked', 'models:/writing/1', { MiB: 2, ageDays: 8, name: 'writing' }),
  finishedPod: spec('finished', 'runs:/0123456789abcdef/model', { MiB: 1, ageDays: 12 }),
  newest: spec('newest', 'models:/newest/1', { MiB: 4, ageDays: 1, name: 'newest' }),
  middle: spec('middle', 'models:/middle/1', { MiB: 2, ageDays: 2, name: 'middle' }),
  oldestRecent: spec('oldest-recent', 'models:/oldest-recent/1', { MiB: 1, ageDays: 3, name: 'oldest-recent' }),
};
// TTL 7 days removes expired and finishedPod (inUse and locked are older but protected); then the cache holds
// inUse 2 + locked 2 + newest 4 + middle 2 + oldestRecent 1 = 11 MiB (+ a few KiB of manifests); MAX 8.5 MiB
// removes oldestRecent, then middle, and stops.
const MAX_SIZE_GB = 8.5 / 1024;
const EXPECTED_REMOVED = {
  [E.expired.key]: 'ttl',
  [E.finishedPod.key]: 'ttl',
  [E.oldestRecent.key]: 'lru',
  [E.middle.key]: 'lru',
};
const EXPECTED_KEPT = { [E.inUse.key]: 'in-use', [E.locked.key]: 'locked', [E.newest.key]: 'under-limit' };

/** Writes one complete entry: model files, manifest (via fetch's module), last-used at its age. */
async function writeEntry(
  cacheRoot: string,
  e: GeneratedEntry,
  extra?: (modelDir: string) => Promise<void>,
): Promise<void> {
  const paths = entryPaths(cacheRoot, e.key);
  await mkdir(paths.modelDir, { recursive: true });
  await writeFile(path.join(paths.modelDir, 'MLmodel'), 'flavors: {}\n');
  const weights = e.bytes - 'flavors: {}\n'.length;
  await writeFile(path.join(paths.modelDir, 'model.onnx'), Buffer.alloc(weights, 7));
  await extra?.(paths.modelDir);
  await writeManifest(paths.dir, {
    format: 1,
    key: e.key,
    kind: 'mlflow',
    source: {
      uri: e.uri,
      server: 'http://mlflow.test',
      resolved: `mlflow-artifacts:/1/${e.key}/artifacts`,
      ...(e.name ? { name: e.name } : {}),
    },
    files: [],
    totalBytes: e.bytes,
    createdAt: new Date(now - e.ageDays * DAY).toISOString(),
    createdBy: { host: 'test', pid: 1 },
  });
  await touchLastUsed(paths.dir, new Date(now - e.ageDays * DAY));
}

interface GeneratedCache {
  root: string;
  outside: string;
  lock: HeldLock;
}

/**
 * A cache with every entry of {@link E}, a ref to the expired one, an entry that is a symlink to a folder
 * outside the cache, and a symlink inside an entry pointing outside; the locked entry's lock held as a running
 * fetch holds it (heartbeat on).
 */
async function generateCache(): Promise<GeneratedCache> {
  const base = await mkdtemp(path.join(readPeers().runDir, 'cleanup-'));
  const root = path.join(base, 'cache');
  const outside = path.join(base, 'outside');
  await mkdir(outside, { recursive: true });
  await writeFile(path.join(outside, 'precious.bin'), Buffer.alloc(MiB, 1));
  await utimes(outside, new Date(now - 30 * DAY), new Date(now - 30 * DAY));
  for (const e of Object.values(E)) {
    await writeEntry(
      root,
      e,
      e === E.expired ? (dir) => symlink(path.join(outside, 'precious.bin'), path.join(dir, 'link-out')) : undefined,
    );
  }
  await mkdir(cacheDirs(root).refs, { recursive: true });
  await writeFile(requestRefPath(root, ['http://mlflow.test', E.expired.uri]), E.expired.key);
  await writeFile(requestRefPath(root, ['http://mlflow.test', E.newest.uri]), E.newest.key);
  // an "entry" that is a symlink out of the cache: it must not be followed (nor its target deleted)
  await symlink(outside, path.join(cacheDirs(root).entries, entryKey('hf', ['outside'])));
  // a dead process's half-download in tmp/ (two days old) and a fresh one of a running download
  const deadTemp = path.join(cacheDirs(root).tmp, `${entryKey('mlflow', ['dead'])}.x1y2`);
  await mkdir(deadTemp, { recursive: true });
  await writeFile(path.join(deadTemp, 'part'), Buffer.alloc(1000));
  await utimes(deadTemp, new Date(now - 2 * DAY), new Date(now - 2 * DAY));
  await mkdir(path.join(cacheDirs(root).tmp, `${entryKey('mlflow', ['live'])}.a1b2`), { recursive: true });
  const lock = await tryAcquireLock({ lockPath: entryPaths(root, E.locked.key).lock, heartbeatMs: 200 });
  if (!lock) throw new Error('could not take the lock of the locked entry');
  return { root, outside, lock };
}

/** Bytes of the regular files of these entries, as find(1) sees them (the oracle for the summary). */
async function filesBytes(cacheRoot: string, entries: readonly GeneratedEntry[]): Promise<number> {
  const dirs = entries.map((e) => entryPaths(cacheRoot, e.key).dir);
  const out = await new Promise<string>((resolve, reject) =>
    execFile('find', [...dirs, '-type', 'f', '-printf', '%s\\n'], (err, stdout) =>
      err ? reject(err) : resolve(stdout),
    ),
  );
  return out
    .split('\n')
    .filter(Boolean)
    .reduce((n, line) => n + Number(line), 0);
}

async function listTree(dir: string): Promise<string[]> {
  return (await readdir(dir, { recursive: true })).map(String).sort();
}

async function createPod(name: string, modelUri: string, finished = false): Promise<void> {
  await core.createNamespacedPod({
    namespace: ns,
    body: {
      metadata: { name },
      spec: {
        initContainers: [
          {
            name: 'fetch',
            image: 'modelctl',
            args: ['fetch'],
            env: [
              { name: 'MODEL_URI', value: modelUri },
              { name: 'STORAGE_STRATEGY', value: 'pvc' },
            ],
          },
        ],
        containers: [{ name: 'serve', image: 'modelctl', args: ['serve'] }],
      },
    },
  });
  if (finished) {
    const pod = await core.readNamespacedPod({ namespace: ns, name });
    await core.replaceNamespacedPodStatus({ namespace: ns, name, body: { ...pod, status: { phase: 'Succeeded' } } });
  }
}

beforeAll(async () => {
  core = adminKubeConfig().makeApiClient(CoreV1Api);
  ns = await createTestNamespace('cleanup');
  const rbac = readFileSync(path.join(repoRoot, 'knative/cleanup/rbac.yaml'), 'utf8').replaceAll(
    'namespace: modelctl-system',
    `namespace: ${ns}`,
  );
  const applied = await runKubectl(['apply', '-f', '-'], { stdin: rbac });
  expect(applied.code).toBe(0);
  listPods = createPodLister(await kubeConfigAsServiceAccount(ns, 'modelctl-cleanup'));
  // alias of the served model: same registered model as the entry made for models:/served/3
  await createPod('serving-pod', 'models:/served@champion');
  // a finished pod of the expired run: not active, so its entry may go
  await createPod('finished-job', E.finishedPod.uri, true);
});

function byKey(reports: CleanupSummary['removed']): Record<string, string> {
  return Object.fromEntries(reports.map((r) => [r.key, r.reason]));
}

async function serveCleanup(settings: {
  cachePath: string;
  dryRun: boolean;
}): Promise<{ server: RunningServer; url: string; registry: Registry }> {
  const registry = new Registry();
  const server = await startCleanup({
    settings: { ...settings, namespace: ns, ttlDays: 7, maxSizeGiB: MAX_SIZE_GB },
    listPods,
    metrics: createCleanupMetrics(registry),
    registry,
    log: createLogger({ name: 'cleanup', level: 'silent' }),
    port: 0,
    host: '127.0.0.1',
    drainTimeoutMs: 1000,
  });
  return { server, url: `http://127.0.0.1:${server.port}/`, registry };
}

function pingEvent(): CloudEvent<unknown> {
  return new CloudEvent({
    specversion: '1.0',
    id: randomUUID(),
    type: 'dev.knative.sources.ping',
    source: `/apis/v1/namespaces/${ns}/pingsources/modelctl-cleanup-daily`,
    datacontenttype: 'application/json',
    data: { pass: 'daily' },
  });
}

async function postPing(
  url: string,
  mode: 'binary' | 'structured',
): Promise<{ status: number; summary: CleanupSummary; type: string }> {
  const message = mode === 'binary' ? HTTP.binary(pingEvent()) : HTTP.structured(pingEvent());
  const res = await fetch(url, {
    method: 'POST',
    headers: message.headers as Record<string, string>,
    body: message.body as string,
  });
  const body = await res.text();
  const reply = HTTP.toEvent({
    headers: Object.fromEntries(res.headers.entries()),
    body,
  }) as CloudEvent<CleanupSummary>;
  return { status: res.status, summary: reply.data!, type: reply.type };
}

describe('cleanup function (PingSource)', () => {
  let cache: GeneratedCache;
  afterAll(async () => {
    await cache?.lock.release();
  });

  it('in dry run reports exactly what would go and the bytes it would free, and deletes nothing', async () => {
    cache = await generateCache();
    const before = await listTree(cache.root);
    const { server, url, registry } = await serveCleanup({ cachePath: cache.root, dryRun: true });
    try {
      const res = await postPing(url, 'binary');
      expect(res.status).toBe(200);
      expect(res.type).toBe('dev.modelctl.cleanup.completed');
      expect(res.summary.dryRun).toBe(true);
      expect(byKey(res.summary.removed)).toEqual(EXPECTED_REMOVED);
      expect(byKey(res.summary.kept)).toEqual(EXPECTED_KEPT);
      const expectedBytes = await filesBytes(cache.root, [E.expired, E.finishedPod, E.oldestRecent, E.middle]);
      expect(res.summary.bytesRemoved).toBe(expectedBytes);
      expect(res.summary.kept.find((k) => k.key === E.inUse.key)?.pods).toEqual(['serving-pod']);
      expect(res.summary.skipped).toEqual([{ name: entryKey('hf', ['outside']), reason: 'symlink-not-followed' }]);
      expect(res.summary.staleTemp).toEqual([{ name: `${entryKey('mlflow', ['dead'])}.x1y2`, bytes: 1000 }]);
      expect(await listTree(cache.root)).toEqual(before);
      expect(await registry.getSingleMetricAsString('modelctl_cleanup_removed_bytes_total')).toContain(
        `modelctl_cleanup_removed_bytes_total{dry_run="true"} ${expectedBytes}`,
      );
    } finally {
      await server.close();
    }
  });

  it('removes exactly the expected entries, keeps the in-use and locked ones, and follows no symlink out', async () => {
    const { server, url } = await serveCleanup({ cachePath: cache.root, dryRun: false });
    try {
      const res = await postPing(url, 'structured');
      expect(res.status).toBe(200);
      expect(byKey(res.summary.removed)).toEqual(EXPECTED_REMOVED);
      expect(byKey(res.summary.kept)).toEqual(EXPECTED_KEPT);
      expect(res.summary.bytesAfter).toBe(res.summary.bytesBefore - res.summary.bytesRemoved);
      expect(res.summary.bytesAfter).toBeLessThanOrEqual(MAX_SIZE_GB * 1024 * MiB);
    } finally {
      await server.close();
    }
    const left = (await readdir(cacheDirs(cache.root).entries)).sort();
    expect(left).toEqual([E.inUse.key, E.locked.key, E.newest.key, entryKey('hf', ['outside'])].sort());
    // the entry that linked out is gone, the file it pointed at is not; nor the folder behind the symlinked "entry"
    expect(await readFile(path.join(cache.outside, 'precious.bin'))).toHaveLength(MiB);
    // the ref to a removed entry went with it; the ref to a kept one stays
    expect(existsSync(requestRefPath(cache.root, ['http://mlflow.test', E.expired.uri]))).toBe(false);
    expect(existsSync(requestRefPath(cache.root, ['http://mlflow.test', E.newest.uri]))).toBe(true);
    // nothing half-deleted is left behind; the dead process's leftover went, the running download's did not
    expect(await readdir(cacheDirs(cache.root).tmp)).toEqual([`${entryKey('mlflow', ['live'])}.a1b2`]);
    // the running fetch still holds its lock
    await expect(cache.lock.assertHeld()).resolves.toBeUndefined();
  });

  it('refuses an event that is not a ping with a 400', async () => {
    const { server, url } = await serveCleanup({ cachePath: cache.root, dryRun: true });
    try {
      const message = HTTP.binary(
        new CloudEvent({ type: 'dev.knative.apiserver.resource.update', source: kubePeer().server, data: {} }),
      );
      const res = await fetch(url, {
        method: 'POST',
        headers: message.headers as Record<string, string>,
        body: message.body as string,
      });
      expect(res.status).toBe(400);
      expect(((await res.json()) as { error_code: string }).error_code).toBe('UNSUPPORTED_EVENT_TYPE');
    } finally {
      await server.close();
    }
  });
});

describe('modelctl cleanup --once', () => {
  it('runs one pass with the seed env and prints the summary (dry run deletes nothing)', async () => {
    const cache = await generateCache();
    try {
      const before = await listTree(cache.root);
      const run = (dryRun: string) =>
        runCleanupOnce({
          CACHE_PATH: cache.root,
          NAMESPACE: ns,
          TTL_DAYS: '7',
          MAX_SIZE_GB: String(MAX_SIZE_GB),
          DRY_RUN: dryRun,
          KUBECONFIG: kubePeer().kubeconfig,
          LOG_LEVEL: 'warn',
        });
      const dry = await run('true');
      expect(dry.stderr).not.toMatch(/modelctl cleanup: /);
      expect(dry.code).toBe(0);
      expect(byKey((JSON.parse(dry.stdout) as CleanupSummary).removed)).toEqual(EXPECTED_REMOVED);
      expect(await listTree(cache.root)).toEqual(before);
      const real = await run('false');
      expect(real.code).toBe(0);
      const summary = JSON.parse(real.stdout) as CleanupSummary;
      expect(byKey(summary.removed)).toEqual(EXPECTED_REMOVED);
      expect((await readdir(cacheDirs(cache.root).entries)).sort()).toEqual(
        [E.inUse.key, E.locked.key, E.newest.key, entryKey('hf', ['outside'])].sort(),
      );
    } finally {
      await cache.lock.release();
    }
  });

  it('stops with one line naming a bad variable', async () => {
    const res = await runCleanupOnce({ NAMESPACE: ns, TTL_DAYS: '-1' });
    expect(res.code).toBe(1);
    expect(res.stderr.trim().split('\n')).toEqual([expect.stringMatching(/^modelctl cleanup: TTL_DAYS: /)]);
  });
});

describe('cleanup on odd caches, plain-HTTP API servers and no cluster (issue 14)', () => {
  /** root without CAP_DAC_OVERRIDE/READ_SEARCH: a mode-000 folder is unreadable, as for a non-root cleanup */
  const NO_DAC = ['setpriv', '--bounding-set', '-dac_override,-dac_read_search'];
  const odd = {
    fifo: entryKey('mlflow', ['odd-fifo']),
    unreadable: spec('odd-unreadable', 'models:/odd/1', { MiB: 1, ageDays: 20 }).key,
    dangling: entryKey('mlflow', ['odd-dangling']),
  };

  /** {@link generateCache} plus a FIFO manifest, a mode-000 model folder, a dangling link and a FIFO ref. */
  async function oddCache(): Promise<GeneratedCache & { unreadableDir: string }> {
    const cache = await generateCache();
    const entries = cacheDirs(cache.root).entries;
    await mkdir(path.join(entries, odd.fifo, 'model'), { recursive: true });
    await promisify(execFile)('mkfifo', [path.join(entries, odd.fifo, 'manifest.json')]);
    await writeEntry(cache.root, spec('odd-unreadable', 'models:/odd/1', { MiB: 1, ageDays: 20 }));
    const unreadableDir = entryPaths(cache.root, odd.unreadable).modelDir;
    await chmod(unreadableDir, 0o000);
    await symlink('/nonexistent/modelctl-entry', path.join(entries, odd.dangling));
    await promisify(execFile)('mkfifo', [path.join(cacheDirs(cache.root).refs, 'fifo-ref')]);
    return { ...cache, unreadableDir };
  }

  it.each([['true'], ['false']])(
    'DRY_RUN=%s: reports and skips a FIFO, an unreadable folder and a dangling link; the rest goes on',
    async (dryRun) => {
      const cache = await oddCache();
      try {
        const started = Date.now();
        const run = await runCleanupOnce(
          {
            CACHE_PATH: cache.root,
            NAMESPACE: ns,
            TTL_DAYS: '7',
            MAX_SIZE_GB: String(MAX_SIZE_GB),
            DRY_RUN: dryRun,
            KUBECONFIG: kubePeer().kubeconfig,
            LOG_LEVEL: 'warn',
          },
          NO_DAC,
        );
        expect({ code: run.code, stderr: run.stderr.match(/modelctl cleanup: .*/)?.[0] }).toEqual({ code: 0 });
        expect(Date.now() - started).toBeLessThan(30_000);
        const summary = JSON.parse(run.stdout) as CleanupSummary;
        expect(summary.skipped).toEqual(
          expect.arrayContaining([
            { name: odd.fifo, reason: 'odd-file', detail: 'FIFO manifest.json' },
            { name: odd.unreadable, reason: 'unreadable', detail: expect.stringMatching(/^EACCES on .*model$/) },
            { name: odd.dangling, reason: 'symlink-not-followed' },
          ]),
        );
        expect(byKey(summary.removed)).toEqual(EXPECTED_REMOVED);
        const left = await readdir(cacheDirs(cache.root).entries);
        expect(left).toEqual(expect.arrayContaining([odd.fifo, odd.unreadable, odd.dangling]));
      } finally {
        await chmod(cache.unreadableDir, 0o755);
        await cache.lock.release();
      }
    },
  );

  it('lists pods through a plain-HTTP API server when the kubeconfig says http://', async () => {
    const upstream = new URL(kubePeer().server);
    const ca = await readFile(kubePeer().caFile);
    const proxy = createServer((req, res) => {
      const up = httpsRequest(
        { host: upstream.hostname, port: upstream.port, path: req.url, method: req.method, headers: req.headers, ca },
        (answer) => {
          res.writeHead(answer.statusCode ?? 502, answer.headers);
          answer.pipe(res);
        },
      );
      up.on('error', () => res.destroy());
      req.pipe(up);
    });
    await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
    const cache = await generateCache();
    try {
      const kubeconfig = path.join(cache.root, '..', 'plain-http.kubeconfig');
      await writeServiceAccountKubeconfig(ns, 'modelctl-cleanup', kubeconfig);
      const config = JSON.parse(await readFile(kubeconfig, 'utf8')) as {
        clusters: { cluster: Record<string, string> }[];
      };
      config.clusters[0]!.cluster = { server: `http://127.0.0.1:${(proxy.address() as AddressInfo).port}` };
      await writeFile(kubeconfig, JSON.stringify(config));
      const run = await runCleanupOnce({
        CACHE_PATH: cache.root,
        NAMESPACE: ns,
        TTL_DAYS: '7',
        MAX_SIZE_GB: String(MAX_SIZE_GB),
        DRY_RUN: 'true',
        KUBECONFIG: kubeconfig,
        LOG_LEVEL: 'warn',
      });
      expect({ code: run.code, stderr: run.stderr.match(/modelctl cleanup: .*/)?.[0] }).toEqual({ code: 0 });
      const summary = JSON.parse(run.stdout) as CleanupSummary;
      expect(summary.podsUnchecked).toBeUndefined();
      // the serving pod was seen: its entry is kept as in use
      expect(byKey(summary.kept)[E.inUse.key]).toBe('in-use');
    } finally {
      await cache.lock.release();
      await new Promise((r) => proxy.close(r));
    }
  });

  it('DRY_RUN=true with no cluster reports what TTL and size would remove and says pods were not checked', async () => {
    const cache = await generateCache();
    try {
      const before = await listTree(cache.root);
      const run = await runCleanupOnce({
        CACHE_PATH: cache.root,
        TTL_DAYS: '7',
        MAX_SIZE_GB: String(MAX_SIZE_GB),
        DRY_RUN: 'true',
        HOME: path.join(cache.root, '..'),
        LOG_LEVEL: 'silent',
      });
      expect({ code: run.code, stderr: run.stderr.match(/modelctl cleanup: .*/)?.[0] }).toEqual({ code: 0 });
      const summary = JSON.parse(run.stdout) as CleanupSummary;
      expect(summary.podsUnchecked).toMatch(/NAMESPACE.*an entry a pod uses would be kept/);
      expect(byKey(summary.removed)).toMatchObject({ [E.expired.key]: 'ttl', [E.finishedPod.key]: 'ttl' });
      expect(await listTree(cache.root)).toEqual(before);
      // for real, no pods means no pass: nothing is removed without knowing what is in use
      const real = await runCleanupOnce({
        CACHE_PATH: cache.root,
        DRY_RUN: 'false',
        HOME: path.join(cache.root, '..'),
      });
      expect(real.code).toBe(1);
      expect(real.stderr).toMatch(/NAMESPACE: required outside a pod/);
    } finally {
      await cache.lock.release();
    }
  });
});

/**
 * `modelctl cleanup --once` from the sources with only `env` (and PATH): its exit code and output. `prefix` runs
 * it under another command (setpriv, to drop root's power to read what its mode forbids).
 */
function runCleanupOnce(
  env: Record<string, string>,
  prefix: string[] = [],
): Promise<{ code: number; stdout: string; stderr: string }> {
  const [command, ...before] = [...prefix, process.execPath];
  return new Promise((resolve) => {
    execFile(
      command!,
      [
        ...before,
        '--import',
        path.join(repoRoot, 'testkit/hub-server/register-ts.ts'),
        path.join(repoRoot, 'cli/main.ts'),
        'cleanup',
        '--once',
      ],
      { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000, killSignal: 'SIGKILL' },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
