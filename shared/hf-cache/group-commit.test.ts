import { describe, expect, it } from '@jest/globals';
import { createGroupCommit } from './group-commit.js';

describe('createGroupCommit', () => {
  it('carries every item submitted in one tick in a single flush', async () => {
    const flushes: number[][] = [];
    const submit = createGroupCommit<number>(async (items) => void flushes.push(items));
    await Promise.all(Array.from({ length: 50 }, (_, i) => submit(i)));
    expect(flushes).toEqual([Array.from({ length: 50 }, (_, i) => i)]);
  });

  it('gathers the items submitted while a flush runs into the next one, and resolves each after its own flush', async () => {
    const flushes: number[][] = [];
    let release!: () => void;
    const submit = createGroupCommit<number>(async (items) => {
      flushes.push(items);
      if (items[0] === 0) await new Promise<void>((r) => (release = r));
    });
    const settled: number[] = [];
    const first = submit(0).then(() => settled.push(0));
    await new Promise((r) => setTimeout(r, 10));
    const later = [1, 2, 3].map((i) => submit(i).then(() => settled.push(i)));
    await new Promise((r) => setTimeout(r, 10));
    // the first flush still runs: nothing resolved, the others wait
    expect(settled).toEqual([]);
    expect(flushes).toEqual([[0]]);
    release();
    await Promise.all([first, ...later]);
    expect(flushes).toEqual([[0], [1, 2, 3]]);
    expect(settled).toEqual([0, 1, 2, 3]);
  });

  it('rejects the items of a failed flush only, and keeps flushing after it', async () => {
    const submit = createGroupCommit<string>(async (items) => {
      if (items.includes('bad')) throw new Error('disk full');
    });
    const a = submit('bad');
    const b = submit('with bad');
    await expect(a).rejects.toThrow('disk full');
    await expect(b).rejects.toThrow('disk full');
    await expect(submit('good')).resolves.toBeUndefined();
  });

  it('calls onIdle once nothing waits', async () => {
    let idle = 0;
    const submit = createGroupCommit<number>(
      async () => undefined,
      () => idle++,
    );
    await Promise.all([submit(1), submit(2)]);
    expect(idle).toBe(1);
  });
});
