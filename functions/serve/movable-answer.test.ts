import { describe, expect, it } from '@jest/globals';
import { createRequire } from 'node:module';
import path from 'node:path';
import { transferableSymbol, valueSymbol } from 'piscina';
import { moved } from './movable-answer.js';

// piscina's worker (dist/worker.js) transfers a result's buffers when common.js's isMovable says so, else it
// structured-clones the marker object itself (the main thread would get `{}`)
const requireHere = createRequire(import.meta.url);
const { isMovable } = requireHere(path.join(path.dirname(requireHere.resolve('piscina')), 'common.js')) as {
  isMovable: (value: unknown) => boolean;
};

describe('moved', () => {
  it("marks an answer the way piscina's worker recognizes a movable result, with its value and buffers", () => {
    const buffer = new ArrayBuffer(8);
    const value = { body: new Uint8Array(buffer) };
    const answer = moved(value, [buffer]) as Record<symbol, unknown>;
    expect(isMovable(answer)).toBe(true);
    expect(answer[transferableSymbol]).toEqual([buffer]);
    expect(answer[valueSymbol]).toBe(value);
  });

  it('is told apart from a plain object with the same public keys (the private marker is what counts)', () => {
    const lookalike = { [transferableSymbol]: [new ArrayBuffer(8)], [valueSymbol]: {}, [Symbol('kMovable')]: true };
    expect(isMovable(lookalike)).toBe(false);
  });
});
