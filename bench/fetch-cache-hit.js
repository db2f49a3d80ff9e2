#!/usr/bin/env node
// Bench: `modelctl fetch` on a PVC cache hit of a 1 GB model (target ≤ 200 ms, Node start included).
//
// 1. builds a complete cache entry of a 1 GiB MLflow model folder with the cache's own code (shared/model-cache):
//    model/MLmodel + model/model.onnx (1 GiB), manifest.json with sha256s, and the refs/ record of
//    `models:/bench-1g/1` on a tracking server that does not exist (http://127.0.0.1:9) — so a hit that
//    touched the network would fail, and the timing is the hit path alone;
// 2. runs `./bin/modelctl fetch` (STORAGE_STRATEGY=pvc) once to warm the page cache, then RUNS times,
//    timing each process from spawn to exit;
// 3. writes bench/results/fetch-cache-hit.json.
// usage: node --import ./testkit/hub-server/register-ts.ts bench/fetch-cache-hit.js [--runs 15] [--size-mb 1024] [--keep]
//        (needs `make build`)
import { spawn } from 'node:child_process';
import { createWriteStream } from 'node:fs';
import { mkdir, mkdtemp, rm, writeFile } from 'node:fs/promises';
import { loadavg, tmpdir, cpus } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { entryKey, entryPaths, requestRefPath } from '../shared/model-cache/cache-layout.js';
import { describeFiles, writeManifest } from '../shared/model-cache/manifest.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { values } = parseArgs({
  options: {
    runs: { type: 'string', default: '15' },
    'size-mb': { type: 'string', default: '1024' },
    keep: { type: 'boolean', default: false },
  },
});
const RUNS = Number(values.runs);
const SIZE_MB = Number(values['size-mb']);
const TARGET_MS = 200;
const SERVER = 'http://127.0.0.1:9';
const URI = 'models:/bench-1g/1';

async function writeModel(modelDir) {
  await mkdir(modelDir, { recursive: true });
  await writeFile(path.join(modelDir, 'MLmodel'), 'flavors:\n  onnx:\n    data: model.onnx\n');
  const out = createWriteStream(path.join(modelDir, 'model.onnx'));
  const chunk = Buffer.alloc(1024 * 1024);
  for (let i = 0; i < SIZE_MB; i++) {
    chunk.writeUInt32LE(i, 0);
    if (!out.write(Buffer.from(chunk))) await new Promise((r) => out.once('drain', r));
  }
  await new Promise((resolve, reject) => out.end((err) => (err ? reject(err) : resolve())));
}

/** The entry exactly as a fetch that downloaded it would leave it. */
async function buildEntry(cache) {
  const artifactUri = 'mlflow-artifacts:/0/models/m-bench/artifacts';
  const key = entryKey('mlflow', [SERVER, artifactUri]);
  const paths = entryPaths(cache, key);
  await writeModel(paths.modelDir);
  const files = await describeFiles(paths.modelDir);
  await writeManifest(paths.dir, {
    format: 1,
    key,
    kind: 'mlflow',
    source: { uri: URI, server: SERVER, resolved: artifactUri, name: 'bench-1g', version: '1' },
    files,
    totalBytes: files.reduce((s, f) => s + f.size, 0),
    createdAt: new Date().toISOString(),
    createdBy: { host: 'bench', pid: process.pid },
  });
  const ref = requestRefPath(cache, [SERVER, URI]);
  await mkdir(path.dirname(ref), { recursive: true });
  await writeFile(ref, key);
  return { key, bytes: files.reduce((s, f) => s + f.size, 0) };
}

/** `./bin/modelctl fetch`, or the same command from an entry that registers fetch only. */
const ENTRIES = {
  cli: { command: path.join(root, 'bin', 'modelctl'), args: ['fetch'] },
  fetch_only: { command: process.execPath, args: [path.join(root, 'bench', 'fetch-only-entry.js'), 'fetch'] },
};

function fetchOnce(env, entry) {
  return new Promise((resolve, reject) => {
    const started = process.hrtime.bigint();
    const child = spawn(entry.command, entry.args, {
      env: { ...process.env, ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => (out += d));
    child.stderr.on('data', (d) => (out += d));
    child.once('error', reject);
    child.once('exit', (code) => resolve({ code, ms: Number(process.hrtime.bigint() - started) / 1e6, out }));
  });
}

const percentile = (sorted, p) => sorted[Math.min(sorted.length - 1, Math.ceil((p / 100) * sorted.length) - 1)];

const work = await mkdtemp(path.join(tmpdir(), 'modelctl-bench-fetch-'));
try {
  const cache = path.join(work, 'cache');
  const setupStarted = Date.now();
  const entry = await buildEntry(cache);
  const env = {
    MODEL_URI: URI,
    STORAGE_STRATEGY: 'pvc',
    CACHE_PATH: cache,
    OUTPUT_PATH: path.join(work, 'out'),
    MLFLOW_TRACKING_URI: SERVER,
    PROGRESS: 'none',
    LOG_LEVEL: 'info',
  };
  const figures = {};
  for (const [name, spec] of Object.entries(ENTRIES)) figures[name] = await measure(env, spec);
  const result = {
    bench: 'fetch-cache-hit',
    description:
      'modelctl fetch (STORAGE_STRATEGY=pvc, immutable models:/name/version) of a cached 1 GiB MLflow model, spawn to exit. ' +
      'cli: ./bin/modelctl fetch as shipped; fetch_only: the same command from an entry that registers only fetch',
    target_ms: TARGET_MS,
    model_bytes: entry.bytes,
    runs: RUNS,
    // top-level figures: ./bin/modelctl fetch as shipped (what the target is about)
    ...figures.cli,
    fetch_only: figures.fetch_only,
    pass: figures.cli.median_ms <= TARGET_MS,
    setup_ms: Date.now() - setupStarted,
    node: process.version,
    cpus: cpus().length,
    loadavg_1m: round(loadavg()[0]),
    at: new Date().toISOString(),
  };
  await mkdir(path.join(root, 'bench', 'results'), { recursive: true });
  const file = path.join(root, 'bench', 'results', 'fetch-cache-hit.json');
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(JSON.stringify(result));
  console.log(`wrote ${path.relative(root, file)}`);
} finally {
  if (!values.keep) await rm(work, { recursive: true, force: true });
}

/** One warm-up, then RUNS timed hits; each must exit 0 as a cache hit. */
async function measure(env, entry) {
  const warm = await fetchOnce(env, entry);
  if (warm.code !== 0 || !warm.out.includes('"source":"cache-hit"'))
    throw new Error(`warm-up fetch failed (${warm.code}):\n${warm.out}`);
  const times = [];
  for (let i = 0; i < RUNS; i++) {
    const r = await fetchOnce(env, entry);
    if (r.code !== 0 || !r.out.includes('"source":"cache-hit"'))
      throw new Error(`fetch ${i} failed (${r.code}):\n${r.out}`);
    times.push(r.ms);
  }
  const sorted = [...times].sort((a, b) => a - b);
  return {
    min_ms: round(sorted[0]),
    median_ms: round(percentile(sorted, 50)),
    p90_ms: round(percentile(sorted, 90)),
    max_ms: round(sorted[sorted.length - 1]),
    times_ms: times.map(round),
  };
}

function round(x) {
  return Math.round(x * 10) / 10;
}
