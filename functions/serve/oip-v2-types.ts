import { AppError } from '../../shared/errors/app-error.js';
import type { ElementType } from './typed-values.js';

/** Open Inference Protocol v2 datatypes by onnxruntime element type. (No zod here: the routes import it.) */
export const V2_TYPES: Record<ElementType, string> = {
  bool: 'BOOL',
  uint8: 'UINT8',
  uint16: 'UINT16',
  uint32: 'UINT32',
  uint64: 'UINT64',
  int8: 'INT8',
  int16: 'INT16',
  int32: 'INT32',
  int64: 'INT64',
  float32: 'FP32',
  float64: 'FP64',
  string: 'BYTES',
};

/** Errors of the v2 and v1 protocols: `{"error": message}`. */
export function v2Error(status: number, message: string): AppError {
  return new AppError({ code: 'OIP_ERROR', statusCode: status, message });
}
