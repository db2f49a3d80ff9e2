import { existsSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { AppError } from '../../../shared/errors/app-error.js';
import type { Signature } from '../../../shared/model/signature.js';
import type { ServedModel } from '../load-served-model.js';
import type { TensorMeta } from '../model-io.js';
import { V2_TYPES, v2Error } from '../oip-v2-types.js';
import type { ElementType } from '../typed-values.js';
import { createPyfuncPool, type PyfuncPoolParams } from './pyfunc-pool.js';

/**
 * The worker script: beside this module in the sources (tests) and in dist/bundle/ (scripts/bundle.js copies it
 * next to the chunks).
 */
const PYFUNC_WORKER_SCRIPT = fileURLToPath(new URL('./pyfunc_worker.py', import.meta.url));

/**
 * Serves a model through its `python_function` flavor: `workers` Python processes each load it with MLflow's
 * `mlflow.pyfunc.load_model` (after checking the model's requirements against the interpreter's packages) and
 * run its saved input example; one refusal stops start-up with one line.
 * @throws AppError MODEL_LOAD_FAILED (missing requirements, load error) or MODEL_EXAMPLE_FAILED
 */
export async function loadPyfuncModel(
  params: {
    dir: string;
    name: string;
    signature: Signature | null;
  } & Pick<
    PyfuncPoolParams,
    | 'python'
    | 'workers'
    | 'maxQueue'
    | 'timeoutMs'
    | 'maxWorkerBytes'
    | 'batching'
    | 'maxBatchSize'
    | 'maxBatchDelayMs'
    | 'env'
    | 'log'
  >,
): Promise<ServedModel> {
  const script = PYFUNC_WORKER_SCRIPT;
  if (!existsSync(script))
    throw new AppError({ code: 'MODEL_LOAD_FAILED', message: `the pyfunc worker script is missing: ${script}` });
  const pool = await createPyfuncPool({
    python: params.python,
    script,
    modelDir: params.dir,
    modelName: params.name,
    workers: params.workers,
    maxQueue: params.maxQueue,
    timeoutMs: params.timeoutMs,
    maxWorkerBytes: params.maxWorkerBytes,
    batching: params.batching,
    maxBatchSize: params.maxBatchSize,
    maxBatchDelayMs: params.maxBatchDelayMs,
    env: params.env,
    log: params.log,
  });
  const { ready } = pool;
  if (ready.example && 'refused' in ready.example) {
    await pool.close();
    throw new AppError({
      code: 'MODEL_EXAMPLE_FAILED',
      statusCode: 400,
      message: `the model fails on its own saved input example: ${ready.example.refused.message}`,
    });
  }
  if (ready.mismatched.length > 0)
    params.log.warn(
      { mismatched: ready.mismatched, python: ready.python },
      'the model pins other versions than the environment has (SERVE_REQUIREMENTS=strict refuses this)',
    );
  params.log.info(
    {
      model: params.name,
      python: ready.python,
      flavors: ready.flavors,
      exampleMs: ready.example,
      maxBatchSize: pool.maxBatchSize,
    },
    'pyfunc workers ready',
  );
  return {
    name: params.name,
    runtime: 'pyfunc',
    mlmodel: { dir: params.dir, signature: params.signature },
    io: {
      inputs: ready.inputs.map(toTensorMeta),
      outputs: ready.outputs.map(toTensorMeta),
      signature: params.signature,
    },
    score: async (task, options) => {
      // the Python worker reads JSON bodies only: refuse the binary extension in one line rather than as bad JSON
      if (task.protocol === 'oip-v2' && task.headerLength !== undefined)
        throw v2Error(400, 'binary tensor data (Inference-Header-Content-Length) is served for onnx models only');
      return { body: await pool.score(task, options) };
    },
    queued: pool.queued,
    maxBatchSize: pool.maxBatchSize,
    observeBatches: pool.observeBatches,
    close: pool.close,
  };
}

const ELEMENT_TYPES = new Map(Object.entries(V2_TYPES).map(([type, v2]) => [v2, type as ElementType]));

/** A v2 metadata tensor the worker reported, in the server's terms (FP16 and unknown types read as FP32/BYTES). */
function toTensorMeta(t: { name: string; datatype: string; shape: number[] }): TensorMeta {
  const type = ELEMENT_TYPES.get(t.datatype) ?? (t.datatype === 'FP16' ? 'float32' : 'string');
  return { name: t.name, type, shape: t.shape };
}
