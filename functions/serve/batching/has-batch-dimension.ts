import type { ModelIo } from '../model-io.js';

/**
 * True when requests to this model can be merged along a batch dimension: every input and output of the graph
 * has a free first dimension (ONNX `-1`, `N`, `batch_size`…), and a tensor signature, when the model has one,
 * leaves the first dimension free too. A model with a fixed first dimension (say `[1, 224, 224, 3]`) or a scalar
 * input is served without batching.
 */
export function hasBatchDimension(io: ModelIo): boolean {
  const free = (shape: readonly number[]): boolean => shape.length > 0 && shape[0] === -1;
  if (io.inputs.length === 0 || !io.inputs.every((t) => free(t.shape))) return false;
  if (!io.outputs.every((t) => free(t.shape))) return false;
  const signed = io.signature?.inputs;
  if (signed?.kind === 'tensor' && !signed.specs.every((s) => free(s.shape))) return false;
  return true;
}
