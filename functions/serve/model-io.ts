import type { Signature } from '../../shared/model/signature.js';
import type { ElementType } from './typed-values.js';

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
