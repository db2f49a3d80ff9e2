// modelctl serve's cold start (issue 16): it is ready once its first inference thread has loaded the model and run
// the input example; the other SERVE_MAX_CONCURRENCY - 1 threads start then, and every one of them loads the model.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import {
  EXAMPLE_MODELS,
  logLineSeen,
  runModelctl,
  startModelctlServe,
  type ModelctlProcess,
} from '../testkit/modelctl-process.js';

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

describe('modelctl serve stopped during its start (Kubernetes scaling a starting revision down)', () => {
  const start = () =>
    startModelctlServe(
      { MODEL_LOCAL_PATH: MODEL, SERVE_MAX_CONCURRENCY: '4', LOG_LEVEL: 'info' },
      { waitReady: false },
    );

  it('drains and exits 0 on a SIGTERM while its first thread loads onnxruntime (an exit then aborted the process)', async () => {
    // listening comes after the first thread has the model's settings: from then to its 'input example ran' it
    // imports onnxruntime-node or creates its session, and a process exit meanwhile ended in SIGABRT (a few % of
    // runs on dense, most of them in the first 150 ms)
    const failed: string[] = [];
    for (const afterMs of [
      0, 0, 0, 0, 5, 10, 20, 30, 40, 50, 60, 70, 80, 90, 100, 110, 120, 135, 150, 175, 200, 250, 300, 400,
    ]) {
      const server = await start();
      await logLineSeen(server, 'listening; loading model');
      await new Promise((r) => setTimeout(r, afterMs));
      const exit = await server.stop(); // SIGTERM; SIGKILL after 10 s
      if (exit !== 0) failed.push(`listening + ${afterMs} ms: exit ${String(exit)}\n${server.output()}`);
    }
    expect(failed).toEqual([]);
  });

  it('never aborts on a SIGTERM right after its spawn (until serve listens for it, the signal ends the process)', async () => {
    const failed: string[] = [];
    for (const afterMs of [0, 50, 100, 150, 200]) {
      const server = await start();
      await new Promise((r) => setTimeout(r, afterMs));
      const exit = await server.stop();
      if (exit !== 0 && exit !== 'SIGTERM')
        failed.push(`spawn + ${afterMs} ms: exit ${String(exit)}\n${server.output()}`);
    }
    expect(failed).toEqual([]);
  });
});

describe('modelctl serve on a port already taken', () => {
  it('refuses it with one line and exit 1, never aborted by a thread inside onnxruntime (4 threads, 10 starts)', async () => {
    const taken = net.createServer().listen(0, '127.0.0.1');
    await once(taken, 'listening');
    const port = String((taken.address() as net.AddressInfo).port);
    const failed: string[] = [];
    try {
      for (let i = 0; i < 10; i++) {
        const server = runModelctl(['serve'], {
          HOST: '127.0.0.1',
          PORT: port,
          MODEL_LOCAL_PATH: MODEL,
          SERVE_MAX_CONCURRENCY: '4',
          LOG_LEVEL: 'warn',
        });
        const exit = await server.exited;
        if (exit !== 1 || !server.output().includes('modelctl serve: listen EADDRINUSE'))
          failed.push(`start ${i}: exit ${String(exit)}\n${server.output()}`);
      }
    } finally {
      taken.close();
    }
    expect(failed).toEqual([]);
  });
});
