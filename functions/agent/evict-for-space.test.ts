import { describe, expect, it } from '@jest/globals';
import { evictionOrder } from './evict-for-space.js';
import { servingSnapshots } from './list-serving-pods.js';

describe('evictionOrder', () => {
  it('evicts the least recently used snapshot no Ready pod serves, never a targeted or protected one', () => {
    const order = evictionOrder({
      owned: [
        { key: 'a/old@1', lastUsedMs: 100 },
        { key: 'a/served@2', lastUsedMs: 50 },
        { key: 'gpt2@3', lastUsedMs: 300 },
        { key: 'a/wanted@4', lastUsedMs: 10 },
        { key: 'a/new@5', lastUsedMs: 1 },
        { key: 'a/older@6', lastUsedMs: 20 },
      ],
      inUse: new Set(['a/served@2']),
      targeted: new Set(['a/wanted@4']),
      protectedKeys: new Set(['a/new@5']),
    });
    expect(order).toEqual(['a/older@6', 'a/old@1', 'gpt2@3']);
  });
});

describe('servingSnapshots', () => {
  it('reads repo@commit from the annotations of Ready pods only', () => {
    const pod = (ready: string, repo?: string) => ({
      metadata: { annotations: repo ? { 'modelctl.dev/hf-repo': repo, 'modelctl.dev/hf-commit': 'c1' } : {} },
      status: { conditions: [{ type: 'Ready', status: ready }] },
    });
    expect(servingSnapshots([pod('True', 'org/a'), pod('False', 'org/b'), pod('True'), pod('True', 'gpt2')])).toEqual(
      new Set(['org/a@c1', 'gpt2@c1']),
    );
  });
});
