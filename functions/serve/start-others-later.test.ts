import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import type { Piscina } from 'piscina';
import { OTHER_THREADS_AFTER_MS, startOthersLater } from './inference-pool.js';

/** A pool that counts the describes startOtherThreads hands it (each would start a thread). */
function fakePool(): { pool: Piscina; runs: () => number } {
  const events = new EventEmitter();
  let runs = 0;
  const pool = Object.assign(events, {
    run: () => {
      runs += 1;
      return Promise.resolve();
    },
  });
  return { pool: pool as unknown as Piscina, runs: () => runs };
}

const turn = (): Promise<void> => new Promise((r) => setImmediate(r));

describe('startOthersLater', () => {
  it('starts the other threads once the first request is answered, not at ready', async () => {
    const { pool, runs } = fakePool();
    const others = startOthersLater(pool, 2);
    await turn();
    expect(runs()).toBe(0);
    others.firstAnswered();
    expect(runs()).toBe(0); // after the answer's own callbacks
    await turn();
    expect(runs()).toBeGreaterThan(0);
    others.cancel();
  });

  it('starts them OTHER_THREADS_AFTER_MS after ready when no request comes', async () => {
    const { pool, runs } = fakePool();
    const others = startOthersLater(pool, 2);
    await new Promise((r) => setTimeout(r, OTHER_THREADS_AFTER_MS / 2));
    expect(runs()).toBe(0);
    await new Promise((r) => setTimeout(r, OTHER_THREADS_AFTER_MS));
    expect(runs()).toBeGreaterThan(0);
    expect(others.cancel()).toBe(true);
  });

  it('never starts them once cancelled (the pool closing) before their start', async () => {
    const { pool, runs } = fakePool();
    const others = startOthersLater(pool, 2);
    expect(others.cancel()).toBe(false);
    others.firstAnswered();
    await new Promise((r) => setTimeout(r, OTHER_THREADS_AFTER_MS * 1.5));
    expect(runs()).toBe(0);
  });
});
