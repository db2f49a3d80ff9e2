import { describe, expect, it } from '@jest/globals';
import type { ScoringTask } from '../scoring.js';
import { packBodies } from './pack-bodies.js';

const text = (s: string) => new Uint8Array(Buffer.from(s));
const task = (body: Uint8Array): ScoringTask => ({ protocol: 'oip-v2', body });

describe('packBodies', () => {
  it('carries small bodies in one buffer, each at a multiple of 8, intact after the transfer', () => {
    const bodies = ['{"inputs": [1]}', '', 'x', '{"inputs": [[1, 2, 3, 4]]}'].map(text);
    const { tasks, transfer } = packBodies(bodies.map(task));
    expect(transfer).toHaveLength(1);
    expect(new Set(tasks.map((t) => t.body.buffer))).toEqual(new Set(transfer));
    for (const t of tasks) expect(t.body.byteOffset % 8).toBe(0);
    const received = structuredClone(tasks, { transfer });
    expect(received.map((t) => Buffer.from(t.body).toString())).toEqual([
      '{"inputs": [1]}',
      '',
      'x',
      '{"inputs": [[1, 2, 3, 4]]}',
    ]);
    expect(received.map((t) => t.protocol)).toEqual(['oip-v2', 'oip-v2', 'oip-v2', 'oip-v2']);
  });

  it('transfers a large body in its own buffer, copied only when that buffer holds more than the body', () => {
    const own = new Uint8Array(100_000).fill(1);
    const shared = new Uint8Array(300_000).fill(2).subarray(100_000, 200_000);
    const { tasks, transfer } = packBodies([task(own), task(text('small')), task(shared)]);
    expect(tasks[0]!.body).toBe(own);
    expect(tasks[2]!.body).not.toBe(shared);
    expect(tasks[2]!.body.buffer.byteLength).toBe(100_000);
    expect(transfer).toHaveLength(3);
    const received = structuredClone(tasks, { transfer });
    expect(received[0]!.body.every((b) => b === 1)).toBe(true);
    expect(Buffer.from(received[1]!.body).toString()).toBe('small');
    expect(received[2]!.body.every((b) => b === 2)).toBe(true);
  });
});
