import { z } from 'zod';
import { describeFirstIssue } from '../config/describe-issues.js';

/** numpy dtype names MLflow writes in tensor specs. */
const TENSOR_DTYPES = [
  'float16',
  'float32',
  'float64',
  'int8',
  'int16',
  'int32',
  'int64',
  'uint8',
  'uint16',
  'uint32',
  'uint64',
  'bool',
  'str',
  'object',
] as const;
export type TensorDtype = (typeof TENSOR_DTYPES)[number];

/** MLflow column types (mlflow.types.DataType). */
const COLUMN_TYPES = ['boolean', 'integer', 'long', 'float', 'double', 'string', 'binary', 'datetime'] as const;
export type ColumnType = (typeof COLUMN_TYPES)[number];

const TensorSpecJson = z.object({
  type: z.literal('tensor'),
  name: z.string().optional(),
  'tensor-spec': z.object({ dtype: z.string(), shape: z.array(z.number().int()) }),
});
const ColumnSpecJson = z.object({
  type: z.string(),
  name: z.string().optional(),
  required: z.boolean().optional(),
});
const SchemaJson = z.array(z.union([TensorSpecJson, ColumnSpecJson])).min(1);

export interface TensorSpec {
  kind: 'tensor';
  name: string | undefined;
  dtype: TensorDtype;
  /** -1 for a variable dimension */
  shape: number[];
}
export interface ColumnSpec {
  kind: 'column';
  name: string | undefined;
  type: ColumnType;
  required: boolean;
}
/** An MLflow schema is all tensors or all columns. */
export type Schema = { kind: 'tensor'; specs: TensorSpec[] } | { kind: 'column'; specs: ColumnSpec[] };

export interface Signature {
  inputs: Schema | null;
  outputs: Schema | null;
  /** declared inference params: name → default (unknown params are ignored, as MLflow does) */
  params: { name: string; type: string; default: unknown; shape: number[] | null }[];
}

const ParamsJson = z.array(
  z.object({ name: z.string(), type: z.string(), default: z.unknown(), shape: z.array(z.number()).nullish() }),
);

/**
 * Parses the `signature` block of MLmodel, whose `inputs`, `outputs` and `params` are JSON strings.
 * @throws Error naming the part that is malformed
 */
export function parseSignature(
  raw: { inputs?: unknown; outputs?: unknown; params?: unknown } | null | undefined,
): Signature | null {
  if (!raw) return null;
  return {
    inputs: parseSchema(raw.inputs, 'signature.inputs'),
    outputs: parseSchema(raw.outputs, 'signature.outputs'),
    params: raw.params
      ? ParamsJson.parse(parseJsonString(raw.params, 'signature.params')).map((p) => ({ ...p, shape: p.shape ?? null }))
      : [],
  };
}

function parseSchema(value: unknown, where: string): Schema | null {
  if (value === null || value === undefined) return null;
  const parsed = SchemaJson.safeParse(parseJsonString(value, where));
  if (!parsed.success) throw new Error(`${where} is not an MLflow schema: ${describeFirstIssue(parsed.error)}`);
  const items = parsed.data;
  if (items.every((i) => i.type === 'tensor')) {
    return { kind: 'tensor', specs: items.map((i) => toTensorSpec(TensorSpecJson.parse(i), where)) };
  }
  if (items.some((i) => i.type === 'tensor')) throw new Error(`${where} mixes tensor and column specs`);
  return { kind: 'column', specs: items.map((i) => toColumnSpec(ColumnSpecJson.parse(i), where)) };
}

function toTensorSpec(i: z.infer<typeof TensorSpecJson>, where: string): TensorSpec {
  const dtype = i['tensor-spec'].dtype;
  if (!(TENSOR_DTYPES as readonly string[]).includes(dtype)) throw new Error(`${where}: unknown tensor dtype ${dtype}`);
  return { kind: 'tensor', name: i.name, dtype: dtype as TensorDtype, shape: i['tensor-spec'].shape };
}

function toColumnSpec(i: z.infer<typeof ColumnSpecJson>, where: string): ColumnSpec {
  if (!(COLUMN_TYPES as readonly string[]).includes(i.type))
    throw new Error(`${where}: column type ${i.type} is not supported`);
  return { kind: 'column', name: i.name, type: i.type as ColumnType, required: i.required ?? true };
}

function parseJsonString(value: unknown, where: string): unknown {
  if (typeof value !== 'string') return value;
  try {
    return JSON.parse(value) as unknown;
  } catch (cause) {
    throw new Error(`${where} is not valid JSON`, { cause });
  }
}
