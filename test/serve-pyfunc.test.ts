import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { postLeftOpen } from '../testkit/invocations.js';
import { venvPython } from '../testkit/peers/mlflow.js';
import { runModelctl, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { FIXTURE_MODELS } from './fixture-models.js';

/**
 * The pyfunc runtime's faults, on a model that misbehaves as each request's `action` asks
 * (test/fixtures/pyfunc/make-fault-model.py): a worker that raises, dies, hangs or leaks is answered with a clear
 * error or recycled, the server stays ready, and requests running beside it do not fail.
 */
const FAULTS = path.join(FIXTURE_MODELS, 'pyfunc-faults');
const TIMEOUT_S = 4;

async function act(
  url: string,
  action: string,
  mb?: number,
): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${url}/invocations`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ dataframe_records: [mb === undefined ? { action } : { action, mb }] }),
  });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const pidOf = (answer: { body: Record<string, unknown> }): number =>
  ((answer.body['predictions'] as { pid: number }[])[0] ?? { pid: -1 }).pid;

/** `ok` requests, one after another, until `until` settles: every status they got. */
async function okWhile(url: string, until: Promise<unknown>): Promise<number[]> {
  let done = false;
  void until.finally(() => (done = true));
  const statuses: number[] = [];
  while (!done) statuses.push((await act(url, 'ok')).status);
  return statuses;
}

async function ready(url: string): Promise<number> {
  return (await fetch(`${url}/health/readiness`)).status;
}

function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

/** Waits until both workers answer `ok` again (a replacement has loaded), up to 90 s. */
async function bothWorkersServing(url: string): Promise<Set<number>> {
  const deadline = Date.now() + 90_000;
  const pids = new Set<number>();
  while (Date.now() < deadline) {
    const [a, b] = await Promise.all([act(url, 'ok'), act(url, 'ok')]);
    pids.clear();
    pids.add(pidOf(a)).add(pidOf(b));
    if (pids.size === 2 && a.status === 200 && b.status === 200) return pids;
  }
  throw new Error('the pool did not get back to two serving workers');
}

describe('modelctl serve, pyfunc runtime, faults', () => {
  let server: ModelctlProcess;
  beforeAll(async () => {
    server = await startModelctlServe(
      {
        MODEL_LOCAL_PATH: FAULTS,
        SERVE_PYTHON: await venvPython(),
        SERVE_MAX_CONCURRENCY: '2',
        MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT: String(TIMEOUT_S),
        SERVE_WORKER_MAX_MEMORY_MB: '600',
        LOG_LEVEL: 'info',
      },
      { readyTimeoutMs: 120_000 },
    );
  }, 150_000);
  afterAll(async () => {
    await server?.stop();
  });

  it('answers a predict that raises with 400 and MLflow message, and keeps the worker', async () => {
    const before = await bothWorkersServing(server.url);
    const raised = await act(server.url, 'raise');
    expect(raised.status).toBe(400);
    expect(raised.body).toEqual({
      error_code: 'BAD_REQUEST',
      message: expect.stringContaining('Encountered an unexpected error while evaluating the model'),
    });
    expect(await bothWorkersServing(server.url)).toEqual(before);
  }, 120_000);

  it('answers a request whose worker dies under it with 503 WORKER_FAILED, replaces the worker, fails no other request', async () => {
    const before = await bothWorkersServing(server.url);
    const dying = act(server.url, 'exit');
    const others = await okWhile(server.url, dying);
    const died = await dying;
    expect(died.status).toBe(503);
    expect(died.body).toEqual({
      error_code: 'WORKER_FAILED',
      message: expect.stringMatching(/Python worker died during this request \(.*SIGKILL\).*replaced/),
    });
    expect(others.length).toBeGreaterThan(0);
    expect(others.every((s) => s === 200)).toBe(true);
    expect(await ready(server.url)).toBe(200);
    const after = await bothWorkersServing(server.url);
    expect([...after].filter((p) => !before.has(p))).toHaveLength(1);
  }, 150_000);

  it('answers a predict that hangs past the timeout with 504, kills that worker and goes on', async () => {
    const before = await bothWorkersServing(server.url);
    const started = Date.now();
    const hanging = act(server.url, 'hang');
    const others = await okWhile(server.url, hanging);
    const hung = await hanging;
    expect(hung.status).toBe(504);
    expect(hung.body).toEqual({ error_code: 'DEADLINE_EXCEEDED', message: 'Request processing time exceeded limit' });
    expect(Date.now() - started).toBeLessThan((TIMEOUT_S + 5) * 1000);
    expect(others.every((s) => s === 200)).toBe(true);
    expect(await ready(server.url)).toBe(200);
    const after = await bothWorkersServing(server.url);
    const gone = [...before].filter((p) => !after.has(p));
    expect(gone).toHaveLength(1);
    expect(isAlive(gone[0]!)).toBe(false);
  }, 150_000);

  it('lets a predict run on when its client leaves: the worker is killed at the timeout, not at the leaving', async () => {
    const before = await bothWorkersServing(server.url);
    const logged = server.output().length;
    const started = Date.now();
    const body = JSON.stringify({ dataframe_records: [{ action: 'hang' }] });
    const req = postLeftOpen(server.url, '/invocations', body);
    await new Promise((r) => setTimeout(r, 1000));
    req.destroy(); // the client leaves while its predict runs
    const killing = '"msg":"pyfunc worker hung past the timeout; killing it"';
    while (!server.output().slice(logged).includes(killing)) {
      expect(Date.now() - started).toBeLessThan((TIMEOUT_S + 5) * 1000);
      await new Promise((r) => setTimeout(r, 50));
    }
    // killed at its deadline (it hangs), not when its client left 1 s in
    expect(Date.now() - started).toBeGreaterThanOrEqual(TIMEOUT_S * 1000 - 200);
    const after = await bothWorkersServing(server.url);
    expect([...before].filter((p) => !after.has(p))).toHaveLength(1);
  }, 150_000);

  it('recycles a worker whose memory passes SERVE_WORKER_MAX_MEMORY_MB after its answer', async () => {
    await bothWorkersServing(server.url);
    const leaked = await act(server.url, 'leak', 700);
    expect(leaked.status).toBe(200);
    const leaker = pidOf(leaked);
    const deadline = Date.now() + 20_000;
    while (isAlive(leaker) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    expect(isAlive(leaker)).toBe(false);
    expect(server.output()).toMatch(/pyfunc worker recycled/);
    const after = await bothWorkersServing(server.url);
    expect(after.has(leaker)).toBe(false);
    expect(await ready(server.url)).toBe(200);
  }, 150_000);
});

describe('modelctl serve, pyfunc runtime, requirements', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'pyfunc-missing-'));
    cpSync(FAULTS, dir, { recursive: true });
    const pins = readFileSync(path.join(dir, 'requirements.txt'), 'utf8');
    writeFileSync(path.join(dir, 'requirements.txt'), `${pins.trim()}\nnot-a-package-modelctl==1.2.3\nnumpy==0.0.1\n`);
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('refuses at start-up, in one line, a model whose requirements are missing, naming them', async () => {
    const proc = runModelctl(['serve'], {
      MODEL_LOCAL_PATH: dir,
      SERVE_PYTHON: await venvPython(),
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
    });
    expect(await proc.exited).toBe(1);
    const lines = proc
      .output()
      .split('\n')
      .filter((l) => l.startsWith('modelctl serve:'));
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/requirements are not satisfied .*not-a-package-modelctl==1\.2\.3 \(not installed\)/);
    // a version mismatch alone is let through unless SERVE_REQUIREMENTS=strict
    expect(lines[0]).not.toMatch(/numpy/);
  }, 60_000);

  it('with SERVE_REQUIREMENTS=strict, refuses other installed versions too', async () => {
    writeFileSync(path.join(dir, 'requirements.txt'), 'numpy==0.0.1\n');
    const proc = runModelctl(['serve'], {
      MODEL_LOCAL_PATH: dir,
      SERVE_PYTHON: await venvPython(),
      SERVE_REQUIREMENTS: 'strict',
      HOST: '127.0.0.1',
      PORT: '0',
      LOG_LEVEL: 'warn',
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/modelctl serve: .*numpy==0\.0\.1 \([\d.]+ installed\)/);
  }, 60_000);
});
