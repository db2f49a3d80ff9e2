import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { FIXTURE_MODELS } from './fixture-models.js';

const IRIS = path.join(EXAMPLE_MODELS, 'iris');

interface Call {
  route: string;
  body: string;
  contentType?: string;
}
interface Answer {
  status: number;
  json: unknown;
}

async function send(url: string, call: Call): Promise<Answer> {
  const res = await fetch(`${url}${call.route}`, {
    method: 'POST',
    headers: { 'Content-Type': call.contentType ?? 'application/json' },
    body: call.body,
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // a plain-text refusal (415) stays text
  }
  return { status: res.status, json };
}

/** Deterministic iris-like rows: `count` of them, varied by `seed`. */
function rows(count: number, seed: number): number[][] {
  return Array.from({ length: count }, (_v, i) => [
    4.5 + ((seed + i) % 30) / 10,
    3 + (i % 5) / 10,
    1 + seed / 10,
    0.2 + (i % 3) / 2,
  ]);
}

/** Requests of mixed batch sizes (1 to 12 rows) over every protocol and input format. */
function mixedCalls(): Call[] {
  const calls: Call[] = [];
  for (let n = 1; n <= 12; n++) {
    const r = rows(n, n);
    switch (n % 5) {
      case 0:
        calls.push({ route: '/invocations', body: JSON.stringify({ inputs: r }) });
        break;
      case 1:
        calls.push({
          route: '/invocations',
          body: JSON.stringify({ dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: r } }),
        });
        break;
      case 2:
        calls.push({
          route: '/v2/models/iris/infer',
          body: JSON.stringify({ inputs: [{ name: 'X', shape: [n, 4], datatype: 'FP32', data: r.flat() }] }),
        });
        break;
      case 3:
        calls.push({ route: '/v1/models/iris:predict', body: JSON.stringify({ instances: r }) });
        break;
      default:
        calls.push({
          route: '/invocations',
          body: `a,b,c,d\n${r.map((x) => x.join(',')).join('\n')}\n`,
          contentType: 'text/csv',
        });
    }
  }
  return calls;
}

/** Requests the model refuses, each for its own reason. */
const BAD_CALLS: Call[] = [
  { route: '/invocations', body: '{"inputs": [[1, 2, 3' },
  { route: '/invocations', body: JSON.stringify({ inputs: [[1, 2, 3]] }) },
  { route: '/invocations', body: JSON.stringify({ inputs: [[1, 2, 3, 'x']] }) },
  {
    route: '/v2/models/iris/infer',
    body: JSON.stringify({ inputs: [{ name: 'X', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3] }] }),
  },
];

/** Numbers equal to 6 significant digits (a merged call may take another float kernel than a lone one). */
function expectClose(actual: unknown, expected: unknown, where = '$'): void {
  if (typeof expected === 'number' && typeof actual === 'number') {
    const scale = Math.max(1e-6, Math.abs(expected));
    if (Math.abs(actual - expected) / scale > 1e-5) throw new Error(`${where}: ${actual} != ${expected}`);
    return;
  }
  if (Array.isArray(expected)) {
    expect(Array.isArray(actual) && actual.length === expected.length).toBe(true);
    expected.forEach((e, i) => expectClose((actual as unknown[])[i], e, `${where}[${i}]`));
    return;
  }
  if (expected && typeof expected === 'object') {
    expect(Object.keys(actual as object).sort()).toEqual(Object.keys(expected).sort());
    for (const [k, v] of Object.entries(expected))
      expectClose((actual as Record<string, unknown>)[k], v, `${where}.${k}`);
    return;
  }
  expect(actual).toEqual(expected);
}

async function batchMetrics(url: string): Promise<{ batches: number; requests: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const pick = (name: string) => Number(new RegExp(`^${name}\\{[^}]*\\} ([0-9.e+-]+)$`, 'm').exec(text)?.[1] ?? NaN);
  return { batches: pick('modelctl_serve_batch_size_count'), requests: pick('modelctl_serve_batch_size_sum') };
}

describe('adaptive batching (one inference thread, requests held up to 300 ms for company)', () => {
  let batched: ModelctlProcess;
  let alone: ModelctlProcess;
  beforeAll(async () => {
    [batched, alone] = await Promise.all([
      startModelctlServe({
        MODEL_LOCAL_PATH: IRIS,
        SERVE_MAX_CONCURRENCY: '1',
        SERVE_MAX_BATCH_SIZE: '1000',
        SERVE_MAX_BATCH_DELAY_MS: '300',
      }),
      startModelctlServe({ MODEL_LOCAL_PATH: IRIS, SERVE_MAX_CONCURRENCY: '1', SERVE_MAX_BATCH_SIZE: '1' }),
    ]);
  });
  afterAll(async () => {
    await Promise.all([batched.stop(), alone.stop()]);
  });

  it('answers concurrent requests of mixed batch sizes and formats as each would be answered alone', async () => {
    const calls = mixedCalls();
    const before = await batchMetrics(batched.url);
    const together = await Promise.all(calls.map((c) => send(batched.url, c)));
    const after = await batchMetrics(batched.url);
    const each: Answer[] = [];
    for (const c of calls) each.push(await send(alone.url, c));
    expect(together.map((a) => a.status)).toEqual(calls.map(() => 200));
    together.forEach((a, i) => expectClose(a.json, each[i]!.json, `request ${i}`));
    // they were merged: fewer batches than requests
    expect(after.requests - before.requests).toBe(calls.length);
    expect(after.batches - before.batches).toBeLessThan(calls.length);
  });

  it('keeps a bad request in a batch to itself: it gets its own error, the others their answers', async () => {
    const good = mixedCalls().slice(0, 6);
    const calls = [
      good[0]!,
      BAD_CALLS[0]!,
      good[1]!,
      BAD_CALLS[1]!,
      good[2]!,
      BAD_CALLS[2]!,
      good[3]!,
      BAD_CALLS[3]!,
      good[4]!,
    ];
    const before = await batchMetrics(batched.url);
    const together = await Promise.all(calls.map((c) => send(batched.url, c)));
    const after = await batchMetrics(batched.url);
    const each: Answer[] = [];
    for (const c of calls) each.push(await send(alone.url, c));
    expect(together.map((a) => a.status)).toEqual([200, 400, 200, 400, 200, 400, 200, 400, 200]);
    together.forEach((a, i) => {
      if (a.status === 200) expectClose(a.json, each[i]!.json, `request ${i}`);
      else expect(a).toEqual(each[i]); // the same refusal, word for word
    });
    expect(after.batches - before.batches).toBeLessThan(calls.length);
  });

  it('runs every request alone with SERVE_MAX_BATCH_SIZE=1', async () => {
    await Promise.all(mixedCalls().map((c) => send(alone.url, c)));
    const m = await batchMetrics(alone.url);
    expect(m.batches).toBe(m.requests);
  });
});

describe('timeouts inside batches', () => {
  const REQUESTS = 20;
  it('answers 504 to the requests whose deadline passes in the queue, drops them uncomputed and keeps serving', async () => {
    // one thread, one request per model call (each is larger than SERVE_MAX_BATCH_SIZE): 20 heavy requests of
    // about 0.2 s each queue far longer than the 1 s deadline
    const server = await startModelctlServe({
      MODEL_LOCAL_PATH: path.join(FIXTURE_MODELS, 'heavy'),
      SERVE_MAX_CONCURRENCY: '1',
      SERVE_MAX_BATCH_SIZE: '32',
      MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT: '1',
    });
    try {
      const body = JSON.stringify({ inputs: Array.from({ length: 1024 }, (_v, i) => [i, 1, 2, 3]) });
      const answers = await Promise.all(
        Array.from({ length: REQUESTS }, () => send(server.url, { route: '/invocations', body })),
      );
      const statuses = answers.map((a) => a.status);
      expect(statuses.every((s) => s === 200 || s === 504)).toBe(true);
      expect(statuses.filter((s) => s === 200).length).toBeGreaterThan(0);
      expect(statuses.filter((s) => s === 504).length).toBeGreaterThan(0);
      const ok = answers.find((a) => a.status === 200)!;
      for (const a of answers) {
        if (a.status === 200) expect(a.json).toEqual(ok.json);
        else
          expect(a.json).toEqual({
            error_code: 'DEADLINE_EXCEEDED',
            message: 'Request processing time exceeded limit',
          });
      }
      // let what was already in a thread finish, then count what the thread computed
      await new Promise((r) => setTimeout(r, 1500));
      const m = await batchMetrics(server.url);
      expect(m.requests).toBeLessThan(REQUESTS);
      const after = await send(server.url, { route: '/invocations', body });
      expect(after).toEqual(ok);
    } finally {
      await server.stop();
    }
  });
});
