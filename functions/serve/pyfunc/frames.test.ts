import { describe, expect, it } from '@jest/globals';
import { createFrameReader, encodeFrame, type Frame } from './frames.js';

describe('createFrameReader', () => {
  it('reads back frames however the stream splits them', () => {
    const frames: Frame[] = [];
    const read = createFrameReader((f) => frames.push(f));
    const body = Buffer.from('{"inputs": [[1, 2]]}\n\u00e9', 'utf8');
    const bytes = Buffer.concat([
      ...encodeFrame({ id: 1, protocol: 'mlflow' }, body),
      ...encodeFrame({ id: 2 }, new Uint8Array(0)),
    ]);
    for (let i = 0; i < bytes.length; i += 3) read(bytes.subarray(i, i + 3));
    expect(frames.map((f) => f.header)).toEqual([{ id: 1, protocol: 'mlflow' }, { id: 2 }]);
    expect(frames[0]!.body.equals(body)).toBe(true);
    expect(frames[1]!.body.length).toBe(0);
  });

  it('waits for a frame that has not fully arrived', () => {
    const frames: Frame[] = [];
    const read = createFrameReader((f) => frames.push(f));
    const bytes = Buffer.concat(encodeFrame({ status: 200 }, Buffer.from('abc')));
    read(bytes.subarray(0, bytes.length - 1));
    expect(frames).toHaveLength(0);
    read(bytes.subarray(bytes.length - 1));
    expect(frames).toHaveLength(1);
  });

  it('refuses a header that is not JSON', () => {
    const read = createFrameReader(() => undefined);
    const bad = Buffer.alloc(11);
    bad.writeUInt32BE(3, 0);
    bad.writeUInt32BE(0, 4);
    bad.write('{x}', 8);
    expect(() => read(bad)).toThrow();
  });
});
