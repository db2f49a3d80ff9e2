#!/usr/bin/env node
// `make bench` / `npm run bench`: runs every benchmark in bench/ one after the other, each as its own process
// (JSON into bench/results/), then writes BENCHMARKS.md from the JSON (bench/report.js) with the machine's
// conditions. A benchmark that fails is reported as failed; the others still run.
//   BENCH_QUICK=1          shorter runs everywhere (said in the report)
//   BENCH_ONLY=a,b         only these (serving, cold-start, fleet, fetch-cache-hit, download, pyfunc, pyfunc-env)
import { execFileSync, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { cpus, loadavg, release, totalmem } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const benchDir = path.dirname(fileURLToPath(import.meta.url));
const root = path.resolve(benchDir, '..');
const resultsDir = path.join(benchDir, 'results');
const quick = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');
const only = process.env.BENCH_ONLY ? new Set(process.env.BENCH_ONLY.split(',')) : null;
const registerTs = path.join(root, 'testkit/hub-server/register-ts.ts');

/** Each benchmark: its script and the result files it writes. */
const BENCHES = [
  { name: 'serving', scripts: ['serving.ts'], results: ['serving'] },
  { name: 'cold-start', scripts: ['cold-start.ts'], results: ['cold-start'] },
  { name: 'download', scripts: ['download.ts'], results: null },
  {
    name: 'fetch-cache-hit',
    scripts: ['fetch-cache-hit.js'],
    results: ['fetch-cache-hit'],
    args: quick ? ['--runs', '5'] : [],
  },
  { name: 'fleet', scripts: ['fleet.ts'], results: ['fleet'] },
  { name: 'pyfunc', scripts: ['pyfunc.ts'], results: ['pyfunc'] },
  { name: 'pyfunc-env', scripts: ['pyfunc-env.ts'], results: ['pyfunc-env'] },
];

/** `make bench` with the BENCH_* settings this run had, as a reader would type it. */
function benchCommand() {
  const settings = Object.entries(process.env)
    .filter(([k]) => k.startsWith('BENCH_'))
    .map(([k, v]) => `${k}=${v}`)
    .sort();
  return [...settings, 'make bench'].join(' ');
}

function sh(cmd, args) {
  try {
    return execFileSync(cmd, args, { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'], timeout: 60_000 }).trim();
  } catch {
    return null;
  }
}

function machineInfo() {
  const python = sh('bash', [path.join(root, 'testkit/peers/ensure-python.sh'), '--print-python']);
  const py = python
    ? sh(python, [
        '-c',
        'import sys, json, mlflow, onnxruntime, huggingface_hub; print(json.dumps({"python": sys.version.split()[0], "mlflow": mlflow.__version__, "onnxruntime": onnxruntime.__version__, "huggingface_hub": huggingface_hub.__version__}))',
      ])
    : null;
  const pkg = (name) => JSON.parse(readFileSync(path.join(root, 'node_modules', name, 'package.json'), 'utf8')).version;
  return {
    cpu_model: cpus()[0]?.model ?? 'unknown',
    cores: cpus().length,
    memory_gb: Math.round(totalmem() / 1e9),
    kernel: release(),
    node: process.version,
    onnxruntime_node: pkg('onnxruntime-node'),
    autocannon: pkg('autocannon'),
    ...(py ? JSON.parse(py) : { python: 'unavailable' }),
    git_commit: sh('git', ['-C', root, 'rev-parse', '--short', 'HEAD']),
  };
}

function runScript(bench, script) {
  const file = path.join(benchDir, script);
  // every script may import the repo's TypeScript (shared/, testkit/) through the `./x.js` -> `./x.ts` hook
  const args = ['--import', registerTs, file, ...(bench.args ?? [])];
  return new Promise((resolve) => {
    const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
    const prefix = (d) => d.toString().replace(/^(?=.)/gm, `  ${bench.name} | `);
    child.stdout.on('data', (d) => process.stdout.write(prefix(d)));
    child.stderr.on('data', (d) => process.stderr.write(prefix(d)));
    child.once('exit', (code, signal) => resolve(code ?? signal));
  });
}

/** Result files of `bench` written since `since` (ms): the named ones, or any `<name>*.json` when unnamed. */
function freshResults(bench, since) {
  if (!existsSync(resultsDir)) return [];
  const names =
    bench.results ??
    readdirSync(resultsDir)
      .filter((f) => f.startsWith(bench.name) && f.endsWith('.json'))
      .map((f) => f.slice(0, -5));
  return names.filter((n) => {
    const f = path.join(resultsDir, `${n}.json`);
    return existsSync(f) && statSync(f).mtimeMs >= since;
  });
}

const startedAt = new Date();
const runInfo = {
  command: benchCommand(),
  quick,
  started_at: startedAt.toISOString(),
  loadavg_start: loadavg().map((x) => Math.round(x * 100) / 100),
  machine: machineInfo(),
  benches: [],
};
if (!existsSync(path.join(root, 'dist/cli/main.js'))) {
  console.error('bench: dist/ is missing; run `make build` (make bench does)');
  process.exit(1);
}
await mkdir(resultsDir, { recursive: true });
console.log(
  `bench: ${runInfo.machine.cpu_model}, ${runInfo.machine.cores} cores, load ${runInfo.loadavg_start.join(' ')}${quick ? ', BENCH_QUICK' : ''}`,
);
for (const bench of BENCHES) {
  if (only && !only.has(bench.name)) continue;
  const script = bench.scripts.find((s) => existsSync(path.join(benchDir, s)));
  if (!script) {
    console.log(
      `bench: ${bench.name}: no script (${bench.scripts.map((s) => `bench/${s}`).join(', ')}) — reported as missing`,
    );
    runInfo.benches.push({ name: bench.name, status: 'missing' });
    continue;
  }
  const since = Date.now() - 1000;
  const t0 = performance.now();
  console.log(`bench: ${bench.name} (bench/${script}) starting, load ${loadavg()[0].toFixed(1)}`);
  const code = await runScript(bench, script);
  const seconds = Math.round((performance.now() - t0) / 100) / 10;
  const results = freshResults(bench, since);
  const status = code === 0 && results.length > 0 ? 'ok' : 'failed';
  console.log(
    `bench: ${bench.name} ${status} (exit ${code}) in ${seconds} s; results: ${results.join(', ') || 'none'}`,
  );
  runInfo.benches.push({
    name: bench.name,
    script: `bench/${script}`,
    status,
    exit: code,
    seconds,
    results,
    loadavg_1m_end: Math.round(loadavg()[0] * 100) / 100,
  });
}
runInfo.finished_at = new Date().toISOString();
runInfo.loadavg_end = loadavg().map((x) => Math.round(x * 100) / 100);
await writeFile(path.join(resultsDir, 'run.json'), `${JSON.stringify(runInfo, null, 2)}\n`);
const { writeReport } = await import('./report.js');
await writeReport({ root, resultsDir });
console.log('bench: wrote bench/results/run.json and BENCHMARKS.md');
// a missing script is reported in BENCHMARKS.md; a benchmark that ran and failed fails the run
process.exit(runInfo.benches.some((b) => b.status === 'failed') ? 1 : 0);
