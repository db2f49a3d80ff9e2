import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import { mkdir, mkdtemp, readdir, readFile, symlink, utimes, writeFile } from 'node:fs/promises';
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
import { cacheDirs, entryKey, entryPaths, refPath } from '../shared/model-cache/cache-layout.js';
import { tryAcquireLock, type HeldLock } from '../shared/model-cache/cache-lock.js';
import { touchLastUsed } from '../shared/model-cache/last-used.js';
import { writeManifest } from '../shared/model-cache/manifest.js';
import {
  adminKubeConfig,
  createTestNamespace,
  kubeConfigAsServiceAccount,
  kubePeer,
  runKubectl,
} from './kube-helpers.js';
import { readPeers } from './peers/peer-run.js';

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
  await writeFile(refPath(root, ['http://mlflow.test', E.expired.uri]), E.expired.key);
  await writeFile(refPath(root, ['http://mlflow.test', E.newest.uri]), E.newest.key);
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
    settings: { ...settings, namespace: ns, ttlDays: 7, maxSizeGB: MAX_SIZE_GB },
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
    expect(existsSync(refPath(cache.root, ['http://mlflow.test', E.expired.uri]))).toBe(false);
    expect(existsSync(refPath(cache.root, ['http://mlflow.test', E.newest.uri]))).toBe(true);
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

/** `modelctl cleanup --once` from the sources with only `env` (and PATH): its exit code and output. */
function runCleanupOnce(env: Record<string, string>): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    execFile(
      process.execPath,
      [
        '--import',
        path.join(repoRoot, 'test/hub-server/register-ts.ts'),
        path.join(repoRoot, 'cli/main.ts'),
        'cleanup',
        '--once',
      ],
      { cwd: repoRoot, env: { PATH: process.env.PATH ?? '', ...env }, timeout: 60_000 },
      (err, stdout, stderr) => resolve({ code: err ? Number(err.code ?? 1) : 0, stdout, stderr }),
    );
  });
}
