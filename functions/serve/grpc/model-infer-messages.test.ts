import { describe, expect, it } from '@jest/globals';
import { inferRequestBody, type ModelInferRequest } from './model-infer-messages.js';

const request = (raw: Buffer[], name = 'x'): ModelInferRequest => ({
  model_name: 'dense',
  model_version: '',
  id: 'req-1',
  inputs: [{ name, datatype: 'FP32', shape: ['2', '2'] }],
  outputs: [],
  raw_input_contents: raw,
});

describe('inferRequestBody', () => {
  it('pads the JSON header to a multiple of 8 bytes, so the raw tensors after it start aligned', () => {
    const raw = Buffer.from(Float32Array.of(1.5, -2, 3, 4).buffer);
    for (const name of ['x', 'xy', 'input_with_a_longer_name', 'é']) {
      const { body, headerLength } = inferRequestBody(request([raw], name));
      expect(headerLength % 8).toBe(0);
      const header = JSON.parse(Buffer.from(body.subarray(0, headerLength)).toString('utf8')) as {
        id: string;
        inputs: { name: string; parameters: { binary_data_size: number } }[];
      };
      expect(header.id).toBe('req-1');
      expect(header.inputs[0]).toMatchObject({ name, parameters: { binary_data_size: 16 } });
      expect(Buffer.from(body.subarray(headerLength))).toEqual(raw);
    }
  });

  it('refuses raw_input_contents whose count differs from the inputs', () => {
    expect(() => inferRequestBody(request([Buffer.alloc(16), Buffer.alloc(16)]))).toThrow(/2 entries for 1 inputs/);
  });
});
