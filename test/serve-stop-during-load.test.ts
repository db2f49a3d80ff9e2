// A SIGTERM during serve's start waits for its inference threads' load (a thread ended inside onnxruntime's load
// aborts the process) within ONE bound, CLOSE_WAIT_FOR_LOADING_MS (10 s), from the signal. During the first
// thread's load, the other threads never start (they start once the first request is answered or 100 ms after
// ready: inference-pool.ts startOthersLater); during theirs, the close ends them one bound after the signal.
import { afterAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { closeSync, constants, cpSync, mkdtempSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXAMPLE_MODELS, logLineSeen, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

const BOUND_MS = 10_000;

/**
 * Hands `bytes` to the next reader of the FIFO `fifo` (an inference thread reading the input example: its load
 * waits in that read until then), once a reader has it open.
 */
async function feedReader(fifo: string, bytes: Buffer, server: ModelctlProcess): Promise<void> {
  for (;;) {
    let fd: number;
    try {
      // non-blocking: ENXIO while no thread has the FIFO open
      fd = openSync(fifo, constants.O_WRONLY | constants.O_NONBLOCK);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'ENXIO') throw err;
      if (server.child.exitCode !== null) return;
      await new Promise((r) => setTimeout(r, 20));
      continue;
    }
    try {
      writeSync(fd, bytes); // fits in the pipe's buffer (64 KiB)
    } catch (err) {
      // the reader went away between the open and the write (its thread ended): nothing left to feed
      if ((err as NodeJS.ErrnoException).code !== 'EPIPE') throw err;
    } finally {
      closeSync(fd); // the reader's end of file
    }
    return;
  }
}

/** The iris model whose input example is a FIFO: each thread's load holds in its read of it until the test feeds it. */
function irisWithFifoExample(dir: string): { model: string; fifo: string; example: Buffer } {
  const model = path.join(dir, 'iris');
  cpSync(path.join(EXAMPLE_MODELS, 'iris'), model, { recursive: true });
  const example = readFileSync(path.join(model, 'serving_input_example.json'));
  const fifo = path.join(model, 'serving_input_example.json');
  rmSync(fifo);
  execFileSync('mkfifo', [fifo]);
  return { model, fifo, example };
}

/** Its exit code, once it exits on its own (a second SIGTERM would end it by the signal), or after 10 s a stop. */
async function exitOf(server: ModelctlProcess): Promise<number | string> {
  let timer: NodeJS.Timeout | undefined;
  const exit = await Promise.race([
    server.exited,
    new Promise((r) => (timer = setTimeout(r, 10_000))).then(() => server.stop()),
  ]);
  clearTimeout(timer);
  return exit;
}

const STILL_LOADING = 'inference threads still loading the model or running at the close; ending them';

describe('modelctl serve stopped during its start', () => {
  const dir = mkdtempSync(path.join(tmpdir(), 'modelctl-stop-during-load-'));
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('exits once its first thread has loaded the model, without starting the others', async () => {
    const { model, fifo, example } = irisWithFifoExample(path.join(dir, 'first'));
    const server = await startModelctlServe(
      { MODEL_LOCAL_PATH: model, SERVE_MAX_CONCURRENCY: '2', LOG_LEVEL: 'info' },
      { waitReady: false },
    );
    await logLineSeen(server, 'listening; loading model');
    const signalled = Date.now();
    server.child.kill('SIGTERM');
    // the first thread's load ends 2 s into the bound: the model is ready, and the close ends the threads then
    await new Promise((r) => setTimeout(r, 2000));
    await feedReader(fifo, example, server);
    expect(await exitOf(server)).toBe(0);
    expect(Date.now() - signalled).toBeLessThan(BOUND_MS - 2000);
    expect(server.output()).toContain('"msg":"input example ran"');
    expect(server.output()).not.toContain('every inference thread loaded');
    expect(server.output()).not.toContain(STILL_LOADING);
  }, 60_000);

  it('ends the other threads still loading one bound after the SIGTERM', async () => {
    const { model, fifo, example } = irisWithFifoExample(path.join(dir, 'others'));
    const server = await startModelctlServe(
      { MODEL_LOCAL_PATH: model, SERVE_MAX_CONCURRENCY: '2', LOG_LEVEL: 'info' },
      { waitReady: false },
    );
    const ended = logLineSeen(server, STILL_LOADING);
    try {
      await logLineSeen(server, 'listening; loading model');
      await feedReader(fifo, example, server);
      await logLineSeen(server, 'model ready');
      // the second thread starts 100 ms after ready (no request) and holds in its read of the example
      await new Promise((r) => setTimeout(r, 1000));
      const signalled = Date.now();
      server.child.kill('SIGTERM');
      const endedAt = await Promise.race([ended, server.exited.then(() => null)]);
      expect(endedAt).not.toBeNull();
      expect(endedAt! - signalled).toBeGreaterThanOrEqual(BOUND_MS - 500);
      expect(endedAt! - signalled).toBeLessThan(BOUND_MS + 3000);
    } finally {
      // the second thread is still in its read: fed, it can end and the process exit
      await feedReader(fifo, example, server);
    }
    expect(await exitOf(server)).toBe(0);
  }, 60_000);
});
