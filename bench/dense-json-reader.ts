// The dense JSON reader alone (functions/serve/parse-dense-json.ts), on bench/serving.ts' dense body: CPU time per
// parseDenseJsonRequest call, against JSON.parse of the same body (the general path's floor) and, with --baseline,
// against another build of the reader (an A/B in one process, so both see the same machine load).
// Rounds alternate between the candidates; medians of the rounds. Not part of `make bench`: a tool for changes to
// the reader (issue 16).
// usage: node --import ./testkit/hub-server/register-ts.ts bench/dense-json-reader.ts \
//          [--baseline /tmp/old/parse-dense-json.js] [--rounds 16] [--calls 200]
//   (needs `make build`: the reader is taken from dist/, as serve runs it; a baseline is a dist file of another
//    commit, e.g. `git show <commit>:...ts` built into a scratch copy)
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';
import { makeRows, median } from './bench-kit.js';

type Reader = typeof import('../functions/serve/parse-dense-json.js');

const { values: args } = parseArgs({
  options: {
    baseline: { type: 'string' },
    rounds: { type: 'string', default: '16' },
    calls: { type: 'string', default: '200' },
  },
});

async function loadReader(file: string): Promise<Reader> {
  return (await import(pathToFileURL(path.resolve(file)).href)) as Reader;
}

/** CPU ms (user + system) per call, over `calls` calls */
function cpuMsPerCall(fn: () => unknown, calls: number): number {
  const start = process.cpuUsage();
  for (let i = 0; i < calls; i++) fn();
  const used = process.cpuUsage(start);
  return (used.user + used.system) / 1000 / calls;
}

const text = JSON.stringify({ inputs: makeRows(128, 256) });
const body = new TextEncoder().encode(text);
const io = { inputs: [{ name: 'x', type: 'float32' as const, shape: [-1, 256] }], outputs: [], signature: null };
const candidates: Record<string, () => unknown> = {};
const reader = await loadReader('dist/functions/serve/parse-dense-json.js');
candidates['reader'] = () => reader.parseDenseJsonRequest(body, io, Number.MAX_SAFE_INTEGER);
if (args.baseline) {
  const baseline = await loadReader(args.baseline);
  candidates['baseline'] = () => baseline.parseDenseJsonRequest(body, io, Number.MAX_SAFE_INTEGER);
  const a = reader.parseDenseJsonRequest(body, io, Number.MAX_SAFE_INTEGER)!.value.data;
  const b = baseline.parseDenseJsonRequest(body, io, Number.MAX_SAFE_INTEGER)!.value.data;
  if (a.length !== b.length || a.some((v, i) => !Object.is(v, b[i]))) throw new Error('the two readers differ');
}
candidates['JSON.parse'] = () => JSON.parse(Buffer.from(body).toString()) as unknown;

const rounds = Number(args.rounds);
const calls = Number(args.calls);
const times: Record<string, number[]> = Object.fromEntries(Object.keys(candidates).map((k) => [k, []]));
for (let r = 0; r < rounds; r++) {
  for (const [name, fn] of Object.entries(candidates)) times[name]!.push(cpuMsPerCall(fn, calls));
}
console.log(
  JSON.stringify({
    body_bytes: body.byteLength,
    values: 128 * 256,
    rounds,
    calls,
    cpu_ms_per_call: Object.fromEntries(Object.entries(times).map(([k, v]) => [k, Number(median(v).toFixed(3))])),
  }),
);
