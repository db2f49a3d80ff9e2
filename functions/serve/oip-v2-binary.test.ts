import { describe, expect, it } from '@jest/globals';
import { binaryInputSlices, decodeBinaryTensor, encodeBinaryTensor, splitInferenceBody } from './oip-v2-binary.js';

/** BYTES elements as the extension carries them: each a 4-byte little-endian length, then its bytes. */
function lengthPrefixed(...elements: string[]): Uint8Array {
  const parts = elements.map((e) => Buffer.from(e, 'utf8'));
  const out = Buffer.alloc(parts.reduce((n, p) => n + 4 + p.length, 0));
  let offset = 0;
  for (const p of parts) {
    out.writeUInt32LE(p.length, offset);
    p.copy(out, offset + 4);
    offset += 4 + p.length;
  }
  return out;
}

describe('splitInferenceBody', () => {
  it('cuts the body at the header length, and refuses a length outside it', () => {
    const body = Buffer.from('{"a":1}XYZ');
    const { header, binary } = splitInferenceBody(body, 7);
    expect(Buffer.from(header).toString()).toBe('{"a":1}');
    expect(Buffer.from(binary).toString()).toBe('XYZ');
    expect(() => splitInferenceBody(body, 11)).toThrow(/does not fit the 10-byte request body/);
  });
});

describe('binaryInputSlices', () => {
  it('hands each input its bytes in header order, and null to JSON inputs', () => {
    const binary = Uint8Array.from([1, 2, 3, 4, 5, 6]);
    const slices = binaryInputSlices(
      [
        { name: 'a', parameters: { binary_data_size: 2 } },
        { name: 'b', data: [1] },
        { name: 'c', parameters: { binary_data_size: 4 } },
      ],
      binary,
    );
    expect(slices.map((s) => (s ? Array.from(s) : null))).toEqual([[1, 2], null, [3, 4, 5, 6]]);
  });

  it('refuses sizes that leave bytes over', () => {
    expect(() => binaryInputSlices([{ name: 'a', parameters: { binary_data_size: 2 } }], new Uint8Array(3))).toThrow(
      /3 bytes of binary data but its inputs' binary_data_size add up to 2/,
    );
  });
});

describe('decodeBinaryTensor', () => {
  it('reads BYTES elements and checks their count against the shape', () => {
    expect(decodeBinaryTensor(lengthPrefixed('héllo', '', 'x'), 'string', [3], 's')).toEqual(['héllo', '', 'x']);
    expect(() => decodeBinaryTensor(lengthPrefixed('a', 'b'), 'string', [3], 's')).toThrow(/2 BYTES elements/);
  });

  it('refuses a BYTES length that runs past the data, and bytes that are not UTF-8', () => {
    const cut = lengthPrefixed('abcdef').subarray(0, 7);
    expect(() => decodeBinaryTensor(cut, 'string', [1], 's')).toThrow(/runs past the input's binary data/);
    const bad = Uint8Array.from([1, 0, 0, 0, 0xff]);
    expect(() => decodeBinaryTensor(bad, 'string', [1], 's')).toThrow(/not UTF-8/);
  });

  it('reads int64 and bool from unaligned offsets, and refuses a BOOL byte other than 0 or 1', () => {
    const int64 = new Uint8Array(17);
    new DataView(int64.buffer).setBigInt64(1, -5n, true);
    new DataView(int64.buffer).setBigInt64(9, 2n ** 60n, true);
    expect(Array.from(decodeBinaryTensor(int64.subarray(1), 'int64', [2], 'i') as BigInt64Array)).toEqual([
      -5n,
      2n ** 60n,
    ]);
    expect(Array.from(decodeBinaryTensor(Uint8Array.from([1, 0]), 'bool', [2], 'b') as Uint8Array)).toEqual([1, 0]);
    expect(() => decodeBinaryTensor(Uint8Array.from([2]), 'bool', [1], 'b')).toThrow(/BOOL/);
  });
});

describe('decodeBinaryTensor (aligned or not)', () => {
  it('views bytes that start at a multiple of the element size, and copies the others, to the same values', () => {
    const body = new Uint8Array(4 + 8 + 1 + 8);
    const view = new DataView(body.buffer);
    view.setFloat32(4, 1.5, true);
    view.setFloat32(8, -2.25, true);
    view.setFloat32(13, 3.5, true);
    view.setFloat32(17, -4, true);
    const aligned = decodeBinaryTensor(body.subarray(4, 12), 'float32', [2], 'x') as Float32Array;
    const unaligned = decodeBinaryTensor(body.subarray(13, 21), 'float32', [2], 'y') as Float32Array;
    expect(Array.from(aligned)).toEqual([1.5, -2.25]);
    expect(Array.from(unaligned)).toEqual([3.5, -4]);
    expect(aligned.buffer).toBe(body.buffer); // no copy
    expect(unaligned.buffer).not.toBe(body.buffer);
    expect(() => decodeBinaryTensor(body.subarray(4, 11), 'float32', [2], 'x')).toThrow(/needs 8/);
  });
});

describe('encodeBinaryTensor', () => {
  it('writes typed data as its little-endian bytes and strings length-prefixed', () => {
    const f = encodeBinaryTensor({ type: 'float32', data: Float32Array.of(1.5, -2), dims: [2] });
    expect(Array.from(new Float32Array(f.slice().buffer))).toEqual([1.5, -2]);
    expect(Buffer.from(encodeBinaryTensor({ type: 'string', data: ['ab', 'é'], dims: [2] }))).toEqual(
      Buffer.from(lengthPrefixed('ab', 'é')),
    );
  });
});
