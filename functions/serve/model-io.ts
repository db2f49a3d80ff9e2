import type { InferenceSession } from 'onnxruntime-node';
import { AppError } from '../../shared/errors/app-error.js';
import type { Signature } from '../../shared/model/signature.js';
import { isSupportedElementType, type ElementType } from './typed-values.js';

/** One input or output of the loaded ONNX graph: `-1` for a dimension that is free (symbolic or unknown). */
export interface TensorMeta {
  name: string;
  type: ElementType;
  shape: number[];
}

/** What the server knows of the loaded model: the graph's inputs and outputs and the MLflow signature. */
export interface ModelIo {
  inputs: TensorMeta[];
  outputs: TensorMeta[];
  signature: Signature | null;
}

/** A tensor as it crosses to and from the inference threads. */
export interface WireTensor {
  type: string;
  data: ArrayBufferView | string[];
  dims: number[];
}

/** The graph's inputs and outputs as onnxruntime reports them. */
export interface GraphMetadata {
  inputs: readonly InferenceSession.ValueMetadata[];
  outputs: readonly InferenceSession.ValueMetadata[];
}

/**
 * The graph's inputs/outputs as tensors, with the MLflow signature.
 * @throws AppError MODEL_UNSUPPORTED for non-tensor (ZipMap) or exotic element types, saying what to do
 */
export function toModelIo(graph: GraphMetadata, signature: Signature | null): ModelIo {
  const toMeta = (m: InferenceSession.ValueMetadata, role: 'input' | 'output'): TensorMeta => {
    if (!m.isTensor) {
      throw new AppError({
        code: 'MODEL_UNSUPPORTED',
        statusCode: 400,
        message: `the model's ${role} ${m.name} is not a tensor (a map or sequence, such as skl2onnx's ZipMap), which onnxruntime-node cannot return: convert the model with zipmap=False (skl2onnx: options={id(model): {'zipmap': False}}) and log it again`,
      });
    }
    if (!isSupportedElementType(m.type)) {
      throw new AppError({
        code: 'MODEL_UNSUPPORTED',
        statusCode: 400,
        message: `the model's ${role} ${m.name} has element type ${m.type}, which modelctl serve does not support`,
      });
    }
    return { name: m.name, type: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : -1)) };
  };
  return {
    inputs: graph.inputs.map((m) => toMeta(m, 'input')),
    outputs: graph.outputs.map((m) => toMeta(m, 'output')),
    signature,
  };
}
