import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker } from 'node:worker_threads';

/**
 * Cold start (issue 16): onnxruntime's first session in a process costs ~25 ms more than the next ones (it loads
 * the native library and creates the process's onnxruntime environment, which outlive the thread that made them).
 * `modelctl serve` calls this before it loads its own modules, so a short-lived thread pays that on the second
 * core while the main thread loads zod, pino and express, and the first inference thread, started later, creates
 * its session in ~10 ms instead of ~35.
 * Only for a local model whose MLmodel names the onnx flavor (a pyfunc model never loads onnxruntime); a guess
 * that is wrong only costs time. Nothing waits for the thread or hears of its failure: the inference threads load
 * onnxruntime as before and report their own errors.
 * @returns whether the thread was started
 */
export function prestartOnnxruntime(params: PrestartParams): boolean {
  if (!willLoadOnnxruntime(params)) return false;
  try {
    const worker = new Worker(new URL('./onnxruntime-prestart-worker.js', import.meta.url));
    worker.on('error', () => undefined);
    worker.unref();
    return true;
  } catch {
    return false;
  }
}

interface PrestartParams {
  /** MODEL_LOCAL_PATH, or MLFLOW_MODEL_URI (a local path or file:// URI; any other URI is no local model) */
  modelDir: string | undefined;
  /** SERVE_RUNTIME */
  runtime: string | undefined;
}

/**
 * Whether serve will likely run the model on onnxruntime: a local model folder whose MLmodel's `flavors:` has an
 * `onnx:` key (MLflow writes YAML with two-space indents), unless SERVE_RUNTIME=pyfunc. A cheap guess, no YAML.
 */
export function willLoadOnnxruntime(params: PrestartParams): boolean {
  if (!params.modelDir || params.runtime === 'pyfunc') return false;
  try {
    const dir = params.modelDir.startsWith('file://') ? new URL(params.modelDir).pathname : params.modelDir;
    return /^ {2}onnx:/m.test(readFileSync(path.join(dir, 'MLmodel'), 'utf8'));
  } catch {
    return false;
  }
}
