import { readFile } from 'node:fs/promises';
import path from 'node:path';
import type { InferenceSession } from 'onnxruntime-node';
import { AppError } from '../../shared/errors/app-error.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { readMlmodel, type MlflowOnnxModel } from '../../shared/model/read-mlmodel.js';
import { createInferencePool, type GraphMetadata, type InferencePool } from './inference-pool.js';
import type { ModelIo, TensorMeta, WireTensor } from './model-io.js';
import { parseJsonScoringRequest, type ModelInput } from './parse-scoring-request.js';
import { prepareFeeds } from './prepare-feeds.js';
import { isSupportedElementType } from './typed-values.js';

/** A model loaded and ready to answer: its name, shape of inputs/outputs and the threads that run it. */
export interface ServedModel {
  name: string;
  mlmodel: MlflowOnnxModel;
  io: ModelIo;
  predict: (input: ModelInput) => Promise<Record<string, WireTensor>>;
  runFeeds: (feeds: Record<string, WireTensor>, outputs?: string[]) => Promise<Record<string, WireTensor>>;
  queued: () => number;
  close: () => Promise<void>;
}

/**
 * Loads an MLflow ONNX model folder: reads MLmodel, starts `threads` inference threads, refuses what
 * onnxruntime-node cannot return (non-tensor outputs such as skl2onnx's ZipMap) and runs the saved input
 * example once, so the model is proven before it is called ready.
 * @throws AppError with one line that says what is wrong and what to do
 */
export async function loadServedModel(params: {
  dir: string;
  name: string;
  threads: number;
  maxQueue: number;
  /** overrides onnx_session_options.intra_op_num_threads */
  intraOpThreads: number | undefined;
  log: Logger;
}): Promise<ServedModel> {
  const mlmodel = await readMlmodel(params.dir);
  const sessionOptions = toSessionOptions(mlmodel.sessionOptions, params.intraOpThreads);
  const pool = await createInferencePool({
    onnxPath: mlmodel.onnxPath,
    sessionOptions,
    threads: params.threads,
    maxQueue: params.maxQueue,
  });
  try {
    const io = toModelIo(await pool.describe(), mlmodel);
    const model = servedModel(params.name, mlmodel, io, pool);
    await runInputExample(model, params.log);
    return model;
  } catch (err) {
    await pool.close();
    throw err;
  }
}

function servedModel(name: string, mlmodel: MlflowOnnxModel, io: ModelIo, pool: InferencePool): ServedModel {
  const outputs = io.outputs.map((o) => o.name);
  return {
    name,
    mlmodel,
    io,
    predict: (input) => pool.run(prepareFeeds(input, io), outputs),
    runFeeds: (feeds, only) => pool.run(feeds, only ?? outputs),
    queued: pool.queued,
    close: pool.close,
  };
}

/** The graph's inputs/outputs as tensors; non-tensor or exotic outputs are refused at load. */
function toModelIo(graph: GraphMetadata, mlmodel: MlflowOnnxModel): ModelIo {
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
    signature: mlmodel.signature,
  };
}

/** Runs the saved input example (`input_example.json` or the serving example); a failure stops start-up. */
async function runInputExample(model: ServedModel, log: Logger): Promise<void> {
  const servingExample = path.join(model.mlmodel.dir, 'serving_input_example.json');
  const text = await readFile(servingExample, 'utf8').catch(() => null);
  if (text === null) {
    log.info({ model: model.name }, 'no serving input example; skipping the warm-up run');
    return;
  }
  const started = performance.now();
  try {
    await model.predict(parseJsonScoringRequest(text).input);
  } catch (cause) {
    throw new AppError({
      code: 'MODEL_EXAMPLE_FAILED',
      statusCode: 400,
      message: `the model fails on its own saved input example (${servingExample}): ${(cause as Error).message.split('\n')[0]}`,
      cause,
    });
  }
  log.info({ model: model.name, ms: Math.round(performance.now() - started) }, 'input example ran');
}

const GRAPH_LEVELS: Record<number, InferenceSession.SessionOptions['graphOptimizationLevel']> = {
  0: 'disabled',
  1: 'basic',
  2: 'extended',
  99: 'all',
};

/**
 * Maps MLflow's `onnx_session_options` (Python `SessionOptions` attribute names) to onnxruntime-node's.
 * @throws AppError naming an option that has no equivalent
 */
export function toSessionOptions(
  options: Record<string, unknown>,
  intraOpThreads: number | undefined,
): InferenceSession.SessionOptions {
  const out: InferenceSession.SessionOptions = {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  };
  for (const [key, value] of Object.entries(options)) {
    if (value === null || value === undefined) continue;
    applySessionOption(out, key, value);
  }
  if (intraOpThreads !== undefined) out.intraOpNumThreads = intraOpThreads;
  return out;
}

function applySessionOption(out: InferenceSession.SessionOptions, key: string, value: unknown): void {
  switch (key) {
    case 'intra_op_num_threads':
      out.intraOpNumThreads = Number(value);
      return;
    case 'inter_op_num_threads':
      out.interOpNumThreads = Number(value);
      return;
    case 'execution_mode':
      out.executionMode = /parallel/i.test(String(value)) ? 'parallel' : 'sequential';
      return;
    case 'graph_optimization_level':
      out.graphOptimizationLevel = GRAPH_LEVELS[Number(value)] ?? 'all';
      return;
    case 'enable_mem_pattern':
      out.enableMemPattern = Boolean(value);
      return;
    case 'enable_cpu_mem_arena':
      out.enableCpuMemArena = Boolean(value);
      return;
    case 'enable_profiling':
      out.enableProfiling = Boolean(value);
      return;
    case 'log_severity_level':
      out.logSeverityLevel = Number(value) as 0 | 1 | 2 | 3 | 4;
      return;
    default:
      throw new AppError({
        code: 'MODEL_INVALID',
        statusCode: 400,
        message: `MLmodel flavors.onnx.onnx_session_options.${key} is not supported by onnxruntime-node`,
      });
  }
}
