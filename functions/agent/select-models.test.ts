import { describe, expect, it } from '@jest/globals';
import { gpuTypesFromLabels, isModelForGpu } from './select-models.js';

describe('gpuTypesFromLabels', () => {
  it('reads the configured label first, then NVIDIA GFD and GKE labels', () => {
    const labels = {
      'nvidia.com/gpu.product': 'NVIDIA-L4',
      'cloud.google.com/gke-accelerator': 'nvidia-l4',
      'example.com/gpu': 'l4-custom',
    };
    expect(gpuTypesFromLabels(labels, 'example.com/gpu')).toEqual(['l4-custom', 'NVIDIA-L4', 'nvidia-l4']);
    expect(gpuTypesFromLabels({})).toEqual([]);
  });
});

describe('isModelForGpu', () => {
  it('takes ["ALL"] models on every node, even one without a GPU label', () => {
    expect(isModelForGpu(['ALL'], [])).toBe(true);
  });
  it('matches a listed type ignoring case', () => {
    expect(isModelForGpu(['nvidia-l4'], ['NVIDIA-L4'])).toBe(true);
  });
  it('does not match by prefix or substring', () => {
    expect(isModelForGpu(['nvidia-a100'], ['nvidia-a100-80gb'])).toBe(false);
    expect(isModelForGpu(['nvidia-a100-80gb'], ['nvidia-a100'])).toBe(false);
  });
  it('takes every model when no GPU filter is given (--once without --gpu-type)', () => {
    expect(isModelForGpu(['nvidia-h100'], null)).toBe(true);
  });
});
