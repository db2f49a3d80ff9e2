import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

/**
 * serve's main thread under a stream of large JSON requests (the dense benchmark's: 128 rows of 256 values, 260 KB)
 * runs a full mark-compact rarely, not about every 50 requests (issue 16; tune-garbage-collection.ts): with V8's
 * default rule for starting incremental marking, serve's small old generation and its young generation of 8-16 MiB
 * semi-spaces kept V8 marking almost all the time, ~0.5 ms of CPU per request.
 */

const REQUESTS = 400;
const CONCURRENCY = 32;
/** full collections allowed over REQUESTS (with V8's default rule: 7-11) */
const MAX_MAJOR_GCS = 3;

/** Deterministic rows with 4 decimals, as bench/serving.ts sends them. */
function rows(count: number, width: number): number[][] {
  let s = 1;
  const next = (): number => {
    s = (s * 1103515245 + 12345) % 2147483648;
    return Math.round(((s / 2147483648) * 4 - 2) * 1e4) / 1e4;
  };
  return Array.from({ length: count }, () => Array.from({ length: width }, next));
}
const BODY = JSON.stringify({ inputs: rows(128, 256) });

/** The main thread's full (mark-compact) collections so far, from prom-client's default GC metric. */
async function majorGcs(server: ModelctlProcess): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  const series = [...text.matchAll(/^modelctl_nodejs_gc_duration_seconds_count\{([^}]*)\} (\d+)$/gm)];
  // the metric is there (the thread has collected young garbage already); no major series: none so far
  expect(series.length).toBeGreaterThan(0);
  const major = series.find(([, labels]) => labels!.split(',').includes('kind="major"'));
  return major ? Number(major[2]) : 0;
}

/** `total` predictions, `concurrency` at a time; their statuses. */
async function predict(server: ModelctlProcess, total: number, concurrency: number): Promise<number[]> {
  const statuses: number[] = [];
  let next = 0;
  const client = async (): Promise<void> => {
    while (next < total) {
      next++;
      const res = await fetch(`${server.url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: BODY,
      });
      await res.arrayBuffer();
      statuses.push(res.status);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, client));
  return statuses;
}

let server: ModelctlProcess;
beforeAll(async () => {
  server = await startModelctlServe({
    MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'dense'),
    SERVE_MAX_CONCURRENCY: '2',
    LOG_LEVEL: 'info',
  });
  // the triggers are set once every inference thread has loaded
  const deadline = Date.now() + 30_000;
  while (!server.output().includes('every inference thread loaded') && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 20));
});
afterAll(async () => {
  await server.stop();
});

describe('serve garbage collection under load', () => {
  it(`runs at most ${MAX_MAJOR_GCS} full GC on the main thread over ${REQUESTS} dense requests`, async () => {
    // warm: the JIT, the inference threads, the heap's first sizing
    expect(new Set(await predict(server, 64, CONCURRENCY))).toEqual(new Set([200]));
    const before = await majorGcs(server);
    const statuses = await predict(server, REQUESTS, CONCURRENCY);
    const majors = (await majorGcs(server)) - before;
    expect(statuses).toHaveLength(REQUESTS);
    expect(new Set(statuses)).toEqual(new Set([200]));
    expect(majors).toBeLessThanOrEqual(MAX_MAJOR_GCS);
  });
});
