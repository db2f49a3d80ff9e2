import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { SlabPool } from './slab-pool.js';

beforeEach(() => {
  jest.useFakeTimers();
});
afterEach(() => {
  jest.useRealTimers();
});

describe('SlabPool', () => {
  it('hands a given-back slab out again, also when none was held in between', () => {
    const pool = new SlabPool(1024, 4, 5_000);
    const a = pool.take();
    const b = pool.take();
    pool.give(a);
    pool.give(b);
    // none held now (between two files): the next file gets the same memory, nothing new is allocated
    jest.advanceTimersByTime(4_999);
    const c = pool.take();
    const d = pool.take();
    expect(new Set([c, d])).toEqual(new Set([a, b]));
    expect(pool.allocated).toBe(1);
  });

  it('keeps every slab given back: more in use than an arena holds carves one more arena, once', () => {
    const pool = new SlabPool(1024, 2, 5_000);
    for (let round = 0; round < 10; round++) {
      const slabs = [pool.take(), pool.take(), pool.take()];
      for (const slab of slabs) pool.give(slab);
    }
    expect(pool.allocated).toBe(2);
    expect(pool.freeCount).toBe(4);
  });

  it('lets the free slabs go once none has been held for idleMs', () => {
    const pool = new SlabPool(1024, 4, 5_000);
    const a = pool.take();
    pool.give(a);
    jest.advanceTimersByTime(5_000);
    expect(pool.freeCount).toBe(0);
    expect(pool.take().memory).not.toBe(a.memory);
    expect(pool.allocated).toBe(2);
  });

  it('does not let them go while a slab is held', () => {
    const pool = new SlabPool(1024, 4, 5_000);
    const a = pool.take();
    pool.give(a);
    const b = pool.take(); // a again
    const c = pool.take();
    pool.give(c);
    jest.advanceTimersByTime(60_000);
    expect(pool.freeCount).toBe(3);
    pool.give(b);
    expect(pool.allocated).toBe(1);
  });

  it('carves disjoint slabs on 64 KiB boundaries of one shared memory', () => {
    const pool = new SlabPool(520_192, 4, 5_000);
    const slabs = [pool.take(), pool.take(), pool.take(), pool.take()];
    expect(pool.allocated).toBe(1);
    expect(new Set(slabs.map((s) => s.memory)).size).toBe(1);
    const offsets = slabs.map((s) => s.offset).sort((x, y) => x - y);
    expect(offsets).toEqual([0, 1, 2, 3].map((i) => i * 524_288));
    for (const slab of slabs) expect(slab.memory.byteLength).toBeGreaterThanOrEqual(slab.offset + 520_192);
  });
});
