import { describe, expect, it } from '@jest/globals';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import { createThreadInit, receiveThreadInit, type ThreadInitRef } from './thread-init.js';

const SETTINGS = { onnxPath: '/m/model.onnx', header: Uint8Array.from([8, 1, 2, 255]), options: { extra: { a: 'b' } } };

/** A real thread (Node strips the types of thread-init.ts) that waits for the settings and posts them back. */
function threadReceiving(ref: ThreadInitRef): Promise<unknown> {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    import(workerData.module).then((m) => m.receiveThreadInit(workerData.ref)).then((init) => parentPort.postMessage(init));`;
  const module = fileURLToPath(new URL('./thread-init.ts', import.meta.url));
  const worker = new Worker(source, { eval: true, workerData: { module, ref } });
  return new Promise((resolve, reject) => {
    worker.once('message', (init) => {
      resolve(init);
      void worker.terminate();
    });
    worker.once('error', reject);
  });
}

describe('createThreadInit', () => {
  it('hands the settings to a thread that started waiting before they were written', async () => {
    const init = createThreadInit<typeof SETTINGS>();
    const received = threadReceiving(init.ref);
    await new Promise((resolve) => setTimeout(resolve, 200));
    init.provide(SETTINGS);
    await expect(received).resolves.toEqual(SETTINGS);
  });

  it('hands them to a thread that starts after they were written', async () => {
    const init = createThreadInit<typeof SETTINGS>();
    init.provide(SETTINGS);
    await expect(threadReceiving(init.ref)).resolves.toEqual(SETTINGS);
    await expect(receiveThreadInit(init.ref)).resolves.toEqual(SETTINGS);
  });

  it('refuses a second set of settings', () => {
    const init = createThreadInit<{ a: number }>();
    init.provide({ a: 1 });
    expect(() => init.provide({ a: 2 })).toThrow('already provided');
  });
});
