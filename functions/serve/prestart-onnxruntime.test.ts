import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { willLoadOnnxruntime } from './prestart-onnxruntime.js';

const MODELS = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'examples', 'models');

describe('willLoadOnnxruntime', () => {
  it('says yes for a local model with the onnx flavor, by path or file:// URI', () => {
    expect(willLoadOnnxruntime({ modelDir: path.join(MODELS, 'dense'), runtime: undefined })).toBe(true);
    expect(willLoadOnnxruntime({ modelDir: path.join(MODELS, 'iris'), runtime: 'auto' })).toBe(true);
    expect(willLoadOnnxruntime({ modelDir: pathToFileURL(path.join(MODELS, 'iris')).href, runtime: 'onnx' })).toBe(
      true,
    );
  });

  it('says no for a model without the onnx flavor, or with SERVE_RUNTIME=pyfunc', () => {
    expect(willLoadOnnxruntime({ modelDir: path.join(MODELS, 'iris-sklearn'), runtime: undefined })).toBe(false);
    expect(willLoadOnnxruntime({ modelDir: path.join(MODELS, 'dense'), runtime: 'pyfunc' })).toBe(false);
  });

  it('says no without a local MLmodel to read', () => {
    expect(willLoadOnnxruntime({ modelDir: undefined, runtime: undefined })).toBe(false);
    expect(willLoadOnnxruntime({ modelDir: 'models:/dense/1', runtime: undefined })).toBe(false);
    expect(willLoadOnnxruntime({ modelDir: path.join(MODELS, 'no-such-model'), runtime: undefined })).toBe(false);
  });
});
