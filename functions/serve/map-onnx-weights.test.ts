import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtempSync, readFileSync, rmSync, symlinkSync, writeFileSync, mkdirSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { mapOnnxWeights } from './map-onnx-weights.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const EMBEDDED = path.join(ROOT, 'test', 'fixtures', 'models', 'embedded-weights', 'model.onnx');
const EXTERNAL = path.join(ROOT, 'test', 'fixtures', 'models', 'mlp-external', 'model.onnx');
const IRIS = path.join(ROOT, 'examples', 'models', 'iris', 'model.onnx');
// the fixture's two weights of a page or more (test/fixtures/make-fixture-models.py): table 1024x64, dense 64x16
const TABLE_BYTES = 1024 * 64 * 4;
const DENSE_BYTES = 64 * 16 * 4;

/**
 * The external-data entries (location, offset, length) the header gives each mapped initializer, in order:
 * each a StringStringEntryProto, `0x0a len key 0x12 len value`.
 */
function externalEntries(header: Uint8Array): Record<string, string>[] {
  const text = Buffer.from(header).toString('latin1');
  const valueAfter = (key: string, from: number): { value: string; at: number } => {
    const at = text.indexOf(`${key}\x12`, from) + key.length + 1;
    const length = text.charCodeAt(at);
    return { value: text.slice(at + 1, at + 1 + length), at: at + 1 + length };
  };
  const found: Record<string, string>[] = [];
  for (let from = text.indexOf('location\x12'); from >= 0; from = text.indexOf('location\x12', from)) {
    const location = valueAfter('location', from);
    const offset = valueAfter('offset', location.at);
    const length = valueAfter('length', offset.at);
    found.push({ location: location.value, offset: offset.value, length: length.value });
    from = length.at;
  }
  return found;
}

describe('mapOnnxWeights', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'map-onnx-weights-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('maps the embedded initializers of a page or more and keeps the small ones in the header', () => {
    const mapped = mapOnnxWeights(EMBEDDED);
    expect(mapped).not.toBeNull();
    expect(mapped!.tensors).toBe(2);
    expect(mapped!.bytes).toBe(TABLE_BYTES + DENSE_BYTES);
    expect(mapped!.folder).toBe(path.dirname(EMBEDDED));
    expect(mapped!.header.length).toBeLessThan(2048);
  });

  it('points each mapped initializer at its own bytes inside the model file', () => {
    const file = readFileSync(EMBEDDED);
    const entries = externalEntries(mapOnnxWeights(EMBEDDED)!.header);
    expect(entries.map((e) => [e.location, Number(e.length)])).toEqual([
      ['model.onnx', TABLE_BYTES],
      ['model.onnx', DENSE_BYTES],
    ]);
    // each range is exactly a raw_data payload: its length varint sits right before it, tag 9 (raw_data, LEN) first
    for (const e of entries) {
      const offset = Number(e.offset);
      const lengthVarint = Buffer.from(varint(Number(e.length)));
      expect(file.subarray(offset - lengthVarint.length, offset)).toEqual(lengthVarint);
      expect(file[offset - lengthVarint.length - 1]).toBe(0x4a);
      expect(offset + Number(e.length)).toBeLessThanOrEqual(file.length);
    }
  });

  it('maps through a link (a Hugging Face snapshot links into blobs/): the folder and name are the target', () => {
    const blobs = path.join(dir, 'blobs');
    const snapshot = path.join(dir, 'snapshots', 'abc');
    mkdirSync(blobs, { recursive: true });
    mkdirSync(snapshot, { recursive: true });
    writeFileSync(path.join(blobs, 'f00d'), readFileSync(EMBEDDED));
    symlinkSync('../../blobs/f00d', path.join(snapshot, 'model.onnx'));
    const mapped = mapOnnxWeights(path.join(snapshot, 'model.onnx'))!;
    expect(mapped.folder).toBe(blobs);
    expect(externalEntries(mapped.header).map((e) => e.location)).toEqual(['f00d', 'f00d']);
  });

  it('leaves a model with only small weights as it is', () => {
    expect(mapOnnxWeights(IRIS)).toBeNull();
  });

  it('leaves a model that already keeps its weights as external data as it is', () => {
    expect(mapOnnxWeights(EXTERNAL)).toBeNull();
  });

  it.each([
    ['inside the embedding table', 100_000],
    ['one byte short', -1],
    ['inside the graph header', 40],
  ])('refuses a model file cut %s (a half-written copy)', (_where, cut) => {
    const file = readFileSync(EMBEDDED);
    const truncated = path.join(dir, `cut-${cut}.onnx`);
    writeFileSync(truncated, file.subarray(0, cut < 0 ? file.length + cut : cut));
    expect(() => mapOnnxWeights(truncated)).toThrow(/truncated|malformed/);
  });

  it('refuses a file that is not a protobuf message', () => {
    const text = path.join(dir, 'not-a-model.onnx');
    writeFileSync(text, 'this is not an ONNX model, only some text that a user saved under the wrong name\n');
    expect(() => mapOnnxWeights(text)).toThrow(/truncated|malformed|not an ONNX model/);
  });
});

function varint(value: number): number[] {
  const out: number[] = [];
  let v = value;
  while (v >= 0x80) {
    out.push((v % 0x80) | 0x80);
    v = Math.floor(v / 0x80);
  }
  out.push(v);
  return out;
}
