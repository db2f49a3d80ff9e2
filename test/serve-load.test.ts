import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { FIXTURE_MODELS } from './fixture-models.js';

// small bodies, heavy compute: the inference thread, not request parsing, is what stays busy
const HEAVY = path.join(FIXTURE_MODELS, 'heavy');
const BATCH = JSON.stringify({ inputs: Array.from({ length: 32 }, (_v, i) => [i, 1, 2, 3]) });
const REQUESTS = 40;

async function inFlight(server: ModelctlProcess): Promise<number> {
  const text = await (await fetch(`${server.url}/metrics`)).text();
  return Number(/modelctl_serve_http_requests_in_flight\{[^}]*\} (\d+)/.exec(text)?.[1] ?? 0);
}

/** Fires REQUESTS heavy predictions at a single inference thread and waits until all are inside the server. */
async function loadUp(server: ModelctlProcess): Promise<{ results: Promise<number[]>; done: () => number }> {
  let completed = 0;
  const results = Promise.all(
    Array.from({ length: REQUESTS }, async () => {
      const res = await fetch(`${server.url}/invocations`, {
        method: 'POST',
        headers: { 'Content-Type': 'application/json' },
        body: BATCH,
      });
      await res.arrayBuffer();
      completed++;
      return res.status;
    }),
  );
  const deadline = Date.now() + 20_000;
  while ((await inFlight(server)) < REQUESTS - completed && Date.now() < deadline)
    await new Promise((r) => setTimeout(r, 5));
  return { results, done: () => completed };
}

describe('modelctl serve under load', () => {
  it('keeps answering health probes while inference is busy', async () => {
    const server = await startModelctlServe({ MODEL_LOCAL_PATH: HEAVY, SERVE_MAX_CONCURRENCY: '1' });
    try {
      const load = await loadUp(server);
      const probes = await Promise.all([
        fetch(`${server.url}/health/liveness`).then((r) => ({ status: r.status, completedThen: load.done() })),
        fetch(`${server.url}/health/readiness`).then((r) => ({ status: r.status, completedThen: load.done() })),
        fetch(`${server.url}/v2/health/ready`).then((r) => ({ status: r.status, completedThen: load.done() })),
      ]);
      // every probe answered 200 while most predictions were still queued behind the one inference thread
      for (const p of probes) {
        expect(p.status).toBe(200);
        expect(p.completedThen).toBeLessThan(REQUESTS / 2);
      }
      expect((await load.results).every((s) => s === 200)).toBe(true);
    } finally {
      await server.stop();
    }
  });

  it('drains on SIGTERM: every in-flight request succeeds and the process exits 0', async () => {
    const server = await startModelctlServe({ MODEL_LOCAL_PATH: HEAVY, SERVE_MAX_CONCURRENCY: '1', LOG_LEVEL: 'info' });
    const load = await loadUp(server);
    const pendingAtSignal = REQUESTS - load.done();
    server.child.kill('SIGTERM');
    const statuses = await load.results;
    const code = await server.exited;
    expect(pendingAtSignal).toBeGreaterThanOrEqual(5);
    expect(statuses).toEqual(Array.from({ length: REQUESTS }, () => 200));
    expect(code).toBe(0);
    expect(server.output()).toContain('"msg":"drained"');
    // once draining, new connections are refused
    await expect(fetch(`${server.url}/ping`)).rejects.toThrow();
  });
});
