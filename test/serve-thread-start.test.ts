// modelctl serve's cold start (issue 16): it is ready once its first inference thread has loaded the model and run
// the input example; the other SERVE_MAX_CONCURRENCY - 1 threads start then, and every one of them loads the model.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

interface LogLine {
  msg: string;
  threads?: number;
  ms?: number | number[];
}

function logLines(server: ModelctlProcess): LogLine[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as LogLine);
}

async function logged(server: ModelctlProcess, msg: string, timeoutMs = 20_000): Promise<LogLine> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const line = logLines(server).find((l) => l.msg === msg);
    if (line) return line;
    if (Date.now() > deadline) throw new Error(`no "${msg}" in:\n${server.output()}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

const MODEL = path.join(EXAMPLE_MODELS, 'dense');

describe.each([
  { threads: 3, queue: '1024' },
  // piscina's own queue must take a batch per thread still starting even when SERVE_MAX_QUEUE is smaller
  { threads: 3, queue: '0' },
])('modelctl serve with $threads inference threads (SERVE_MAX_QUEUE $queue)', ({ threads, queue }) => {
  let server: ModelctlProcess;
  beforeAll(async () => {
    server = await startModelctlServe({
      MODEL_LOCAL_PATH: MODEL,
      SERVE_MAX_CONCURRENCY: String(threads),
      SERVE_MAX_QUEUE: queue,
      LOG_LEVEL: 'info',
    });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('is ready once the first thread has run the input example', async () => {
    const example = await logged(server, 'input example ran');
    expect(example.ms).toHaveLength(1);
    expect(await fetch(`${server.url}/health/readiness`).then((r) => r.status)).toBe(200);
  });

  it('then starts every other thread, each loading the model', async () => {
    const loaded = await logged(server, 'every inference thread loaded');
    expect(loaded.threads).toBe(threads);
    expect(server.output()).not.toContain('cannot load the model');
    const answers = await Promise.all(
      Array.from({ length: threads }, () =>
        fetch(`${server.url}/invocations`, {
          method: 'POST',
          headers: { 'Content-Type': 'application/json' },
          body: readFileSync(path.join(MODEL, 'serving_input_example.json')),
        }).then((r) => r.status),
      ),
    );
    expect(answers.every((s) => s === 200)).toBe(true);
  });
});

describe('modelctl serve stopped while its other threads still load the model', () => {
  it('drains and exits 0 on a SIGTERM right after ready (a thread ended mid-load aborted the process)', async () => {
    for (let round = 0; round < 4; round++) {
      const server = await startModelctlServe(
        { MODEL_LOCAL_PATH: MODEL, SERVE_MAX_CONCURRENCY: '4', LOG_LEVEL: 'info' },
        { waitReady: false },
      );
      for (let i = 0; i < 2000; i++) {
        const ready = await fetch(`${server.url}/health/readiness`).then(
          (r) => r.ok,
          () => false,
        );
        if (ready) break;
        await new Promise((r) => setTimeout(r, 5));
      }
      expect(await server.stop()).toBe(0);
    }
  });
});
