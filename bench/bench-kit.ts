// Small helpers shared by the benchmark scripts (run by bench/run.js; each script also runs alone).
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { mkdir, writeFile } from 'node:fs/promises';
import { SourceMap, type SourceMapPayload, type SourceMapping } from 'node:module';
import { cpus, loadavg } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments } from 'yaml';

export const BENCH_DIR = path.dirname(fileURLToPath(import.meta.url));
export const ROOT = path.resolve(BENCH_DIR, '..');
export const RESULTS_DIR = path.join(BENCH_DIR, 'results');

/** `BENCH_QUICK=1`: shorter runs, fewer rounds (numbers noisier; said in the report). */
export const QUICK = /^(1|true|yes)$/i.test(process.env.BENCH_QUICK ?? '');

/** A positive number from the environment, else `fallback`. */
export function envNumber(name: string, fallback: number): number {
  const v = Number(process.env[name]);
  return Number.isFinite(v) && v > 0 ? v : fallback;
}

/** A comma-separated list of positive integers from the environment, else `fallback`. */
export function envList(name: string, fallback: number[]): number[] {
  const raw = process.env[name];
  if (!raw) return fallback;
  return raw
    .split(',')
    .map(Number)
    .filter((n) => Number.isInteger(n) && n > 0);
}

/**
 * `count` rows of `width` numbers in [-2, 2] with at most 4 decimals (a fixed pseudo-random sequence), as the
 * serving bench's clients send them.
 */
export function makeRows(count: number, width: number): number[][] {
  let s = 1;
  const next = () => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.round(((s / 2147483648) * 4 - 2) * 1e4) / 1e4;
  };
  return Array.from({ length: count }, () => Array.from({ length: width }, next));
}

export function median(xs: number[]): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const mid = Math.floor(s.length / 2);
  return s.length % 2 ? s[mid]! : (s[mid - 1]! + s[mid]!) / 2;
}

/** Nearest-rank percentile. */
export function percentile(xs: number[], p: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.max(0, Math.ceil((p / 100) * s.length) - 1))]!;
}

export function round(x: number, digits = 1): number {
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

/** The agent container's environment variables that tune the runtime (V8 flags, glibc malloc). */
const RUNTIME_ENV = /^(NODE_OPTIONS|MALLOC_\w+)$/;

/**
 * The agent's shipped runtime settings: `NODE_OPTIONS` and `MALLOC_*` of the agent container in
 * knative/agent/daemonset.yaml. The benches spawn `modelctl agent` with exactly these (and without the
 * caller's own), so they measure what the DaemonSet runs.
 */
export function shippedAgentEnv(): Record<string, string> {
  const env: Record<string, string> = { NODE_OPTIONS: '' };
  for (const e of shippedAgentContainer().env ?? []) {
    if (RUNTIME_ENV.test(e.name) && e.value !== undefined) env[e.name] = e.value;
  }
  return env;
}

interface ContainerSpec {
  name: string;
  env?: { name: string; value?: string }[];
}

/** The `agent` container of the DaemonSet in knative/agent/daemonset.yaml. */
function shippedAgentContainer(): ContainerSpec {
  interface DaemonSet {
    kind?: string;
    spec?: { template?: { spec?: { containers?: ContainerSpec[] } } };
  }
  const text = readFileSync(path.join(ROOT, 'knative', 'agent', 'daemonset.yaml'), 'utf8');
  const ds = parseAllDocuments(text)
    .map((d) => d.toJS() as DaemonSet)
    .find((d) => d.kind === 'DaemonSet');
  const agent = ds?.spec?.template?.spec?.containers?.find((c) => c.name === 'agent');
  if (!agent) throw new Error('knative/agent/daemonset.yaml: no DaemonSet with an `agent` container');
  return agent;
}

/** `process.env` without its runtime settings, with `shipped` laid over: what a bench's agent process gets. */
export function agentProcessEnv(shipped: Record<string, string>): Record<string, string | undefined> {
  const env = Object.fromEntries(Object.entries(process.env).filter(([k]) => !RUNTIME_ENV.test(k)));
  return { ...env, ...shipped };
}

/** Load average, CPU count and time: every result records the conditions it was measured in. */
export function conditions(): { loadavg_1m: number; cpus: number; at: string } {
  return { loadavg_1m: round(loadavg()[0]!, 2), cpus: cpus().length, at: new Date().toISOString() };
}

/** Writes `bench/results/<name>.json` and prints where. */
export async function writeResult(name: string, result: object): Promise<string> {
  await mkdir(RESULTS_DIR, { recursive: true });
  const file = path.join(RESULTS_DIR, `${name}.json`);
  await writeFile(file, `${JSON.stringify(result, null, 2)}\n`);
  console.log(`wrote ${path.relative(ROOT, file)}`);
  return file;
}

export function log(msg: string): void {
  console.log(`[${new Date().toISOString().slice(11, 19)}] ${msg}`);
}

interface CpuProfile {
  startTime: number;
  nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number; columnNumber: number } }[];
  samples: number[];
  timeDeltas: number[];
}

const sourceMaps = new Map<string, SourceMap | null>();

/** The source map beside a bundled file of dist/bundle/ (esbuild writes `<chunk>.js.map`), else null. */
function bundleSourceMap(url: string): SourceMap | null {
  if (!url.includes('/dist/bundle/')) return null;
  let map = sourceMaps.get(url);
  if (map === undefined) {
    const file = `${fileURLToPath(url)}.map`;
    map = existsSync(file) ? new SourceMap(JSON.parse(readFileSync(file, 'utf8')) as SourceMapPayload) : null;
    sourceMaps.set(url, map);
  }
  return map;
}

/**
 * Where a frame's code lives: the npm package, `node:internal`, modelctl's source file, or a VM marker. Frames
 * of the bundled CLI (dist/bundle/) are traced back through its source maps to the package or file they came from.
 */
function locate(url: string, fn: string, line: number, column: number): { where: string; line: number } {
  // findEntry answers {} where the map has no entry
  const source = (url ? bundleSourceMap(url)?.findEntry(line, column) : undefined) as
    Partial<SourceMapping> | undefined;
  if (source?.originalSource !== undefined && source.originalLine !== undefined) {
    const original = source.originalSource.replace(/^(\.\.\/)+/, '');
    const where = original.includes('node_modules/') ? packageOf(original, fn) : `modelctl ${original}`;
    return { where, line: source.originalLine };
  }
  return { where: packageOf(url, fn), line };
}

function packageOf(url: string, fn: string): string {
  if (!url) return fn || '(native)';
  const nm = url.lastIndexOf('node_modules/');
  if (nm >= 0) {
    const parts = url.slice(nm + 'node_modules/'.length).split('/');
    return parts[0]!.startsWith('@') ? `${parts[0]}/${parts[1]}` : parts[0]!;
  }
  if (url.startsWith('node:')) return 'node (internal: module loader, streams, …)';
  const dist = url.indexOf('/dist/');
  return dist >= 0 ? `modelctl ${url.slice(dist + 1)}` : url;
}

/**
 * A span of the monotonic clock in µs: V8's profile timestamps and `process.hrtime` both read CLOCK_MONOTONIC
 * on Linux, so a span measured in the bench process selects the samples of that span in the server's profile.
 */
export interface ProfileWindow {
  fromUs: number;
  toUs: number;
}

/** Now on the monotonic clock, µs (see {@link ProfileWindow}). */
export function monotonicUs(): number {
  return Number(process.hrtime.bigint() / 1000n);
}

/**
 * The `top` entries of a `--cpu-prof` profile (only samples inside `window` when given) by self time, grouped by function or by package; idle time left
 * out of the shares.
 */
export function summarizeCpuProfile(
  file: string,
  params: {
    by: 'function' | 'package';
    top: number;
    text: string;
    window?: ProfileWindow;
    /** frames that mean the thread waits for work (besides V8's `(idle)`), e.g. piscina's `atomicsWaitLoop` */
    idle?: string[];
  },
) {
  const idle = new Set(['(idle)', ...(params.idle ?? [])]);
  const p = JSON.parse(readFileSync(file, 'utf8')) as CpuProfile;
  const selfUs = selfTimeByNode(p, params.window);
  const groups = new Map<string, number>();
  const fnOf = new Map<string, string>();
  for (const n of p.nodes) {
    if (idle.has(n.callFrame.functionName)) continue;
    const { key, fn } = groupOf(n.callFrame, params.by);
    groups.set(key, (groups.get(key) ?? 0) + (selfUs.get(n.id) ?? 0));
    fnOf.set(key, fn);
  }
  const busyUs = [...groups.values()].reduce((a, b) => a + b, 0);
  const top = [...groups.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, params.top)
    .map(([name, us]) => ({ name, fn: fnOf.get(name) ?? name, ms: round(us / 1000), pct: round((100 * us) / busyUs) }));
  return { description: params.text, busy_ms: round(busyUs / 1000), top };
}

/** The group a frame's self time goes to (its package, or its function and source line) and the name shown for it. */
function groupOf(
  frame: CpuProfile['nodes'][number]['callFrame'],
  by: 'function' | 'package',
): { key: string; fn: string } {
  const { functionName: fn, url, lineNumber, columnNumber } = frame;
  const at = locate(url, fn, lineNumber, columnNumber);
  if (by === 'package') return { key: at.where, fn: at.where };
  const name = fn || '(anonymous)';
  return { key: `${name} ${url ? `${at.where}:${at.line + 1}` : ''}`.trim(), fn: name };
}

/** Self time (µs) of each profile node, counting only the samples inside `window` when given. */
function selfTimeByNode(p: CpuProfile, window: ProfileWindow | undefined): Map<number, number> {
  const selfUs = new Map<number, number>();
  let t = p.startTime;
  p.samples.forEach((id, i) => {
    t += p.timeDeltas[i] ?? 0;
    if (window && (t < window.fromUs || t > window.toUs)) return;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  });
  return selfUs;
}

/** The worker threads' profiles among those `--cpu-prof` wrote into `dir` (`.<n>.` with n > 0), in thread order. */
export function workerThreadProfiles(dir: string): string[] {
  return readdirSync(dir)
    .filter((name) => /^CPU\.\d+\.\d+\.\d+\.[1-9]\d*\.\d+\.cpuprofile$/.test(name))
    .sort()
    .map((name) => path.join(dir, name));
}

/** The main thread's profile among those `--cpu-prof` wrote into `dir` (worker threads are `.<n>.` with n > 0). */
export function mainThreadProfile(dir: string): string | null {
  const f = readdirSync(dir).find((name) => /^CPU\.\d+\.\d+\.\d+\.0\.\d+\.cpuprofile$/.test(name));
  return f ? path.join(dir, f) : null;
}

/**
 * CPU time and run-queue wait (runnable but not running: the machine's contention) of all threads of `pid`,
 * from /proc/<pid>/task/<tid>/schedstat (ns); null when the process is gone or /proc has no schedstat.
 */
export function schedstatOf(pid: number): { runMs: number; waitMs: number } | null {
  try {
    let run = 0;
    let wait = 0;
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const [r, w] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
      run += r ?? 0;
      wait += w ?? 0;
    }
    return { runMs: run / 1e6, waitMs: wait / 1e6 };
  } catch {
    return null;
  }
}
