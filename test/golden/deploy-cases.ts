import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The cases of the golden files (test/golden/deploy-<name>.yaml) and a runner of the built CLI. */

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

/** The commit the hf:// golden cases pin (so a client dry run renders without reading the warm plan). */
const PINNED_COMMIT = 'a09a35458c702241f0bd1e2a8e9b8b3ac6cbd4c5';

/** name → deploy flags. deploy-kube.test.ts also applies each one to the API server (server-side dry run). */
export const GOLDEN_CASES: Record<string, string[]> = {
  // the seed's one-click deploy, MLflow registry stage, emptyDir
  'mlflow-stage-emptydir': [
    '--serve-name', 'my-model', '--model-uri', 'models:/my-model/Production', '--artifact-version', 'v1',
    '--cores', '4', '--memory', '8', '--namespace', 'ml',
    '--mlflow-tracking-uri', 'http://mlflow.mlflow:5000', '--mlflow-secret', 'mlflow-credentials',
  ],
  // MLflow alias, scale and concurrency knobs, model size → emptyDir limit and progress deadline
  'mlflow-alias-emptydir-scaled': [
    '--serve-name', 'iris', '--model-uri', 'models:/iris@champion', '--artifact-version', '2024.06.1',
    '--namespace', 'ml', '--min-scale', '1', '--max-scale', '10', '--initial-scale', '2',
    '--scale-to-zero-retention', '5m', '--concurrency', '8', '--timeout', '30', '--model-size', '2.5',
    '--env', 'LOG_LEVEL=debug', '--image', 'registry.example.com/mirror/modelctl:0.1.0',
    '--mlflow-tracking-uri', 'http://mlflow.mlflow:5000',
  ],
  // MLflow run artifact through the shared PVC cache
  'mlflow-run-pvc': [
    '--serve-name', 'churn', '--model-uri', 'runs:/0a1b2c3d4e5f/model', '--artifact-version', 'run-0a1b2c',
    '--namespace', 'modelctl-system', '--storage', 'pvc', '--model-size', '12',
    '--mlflow-tracking-uri', 'https://mlflow.example.com', '--mlflow-secret', 'mlflow-credentials',
  ],
  // MLflow 3 logged model by its artifact location, no artifact version (Knative names the Revision)
  'mlflow-artifacts-emptydir': [
    '--serve-name', 'fraud', '--model-uri', 'mlflow-artifacts:/1/models/m-bb783a70139a4b9b92ebb73f696432b8/artifacts',
    '--namespace', 'ml', '--mlflow-tracking-uri', 'http://mlflow.mlflow:5000', '--mlflow-secret', 'mlflow-token',
    '--service-account', 'model-puller',
  ],
  // the seed's command exactly as typed: the tracking URI comes from MLFLOW_TRACKING_URI (see deploy-golden)
  'mlflow-as-typed': [
    '--serve-name', 'my-model', '--model-uri', 'models:/my-model/Production', '--artifact-version', 'v1',
    '--cores', '4', '--memory', '8', '--namespace', 'ml',
  ],
  // any MLflow flavor through the python image
  'mlflow-pyfunc': [
    '--serve-name', 'churn-sk', '--model-uri', 'models:/churn@champion', '--runtime', 'pyfunc', '--namespace', 'ml',
    '--mlflow-tracking-uri', 'http://mlflow.mlflow:5000',
  ],
  // warmed Hugging Face model on vLLM's OpenAI server, 2 GPUs of one type, required affinity (pinned commit:
  // a client dry run reads no plan)
  'hf-vllm-gpu': [
    '--serve-name', 'qwen', '--model-uri', `hf://Qwen/Qwen2.5-0.5B-Instruct@${PINNED_COMMIT}`, '--runtime', 'vllm',
    '--artifact-version', 'v1', '--namespace', 'llm', '--cores', '8', '--memory', '32', '--gpu', '2',
    '--gpu-type', 'nvidia-l4', '--max-model-len', '8192', '--dtype', 'bfloat16', '--served-model-name', 'qwen',
    '--model-size', '1', '--arg', '--gpu-memory-utilization=0.9',
  ],
  // warmed model on TGI, a Hub id without org, only preferring nodes that have it (the runtime downloads elsewhere)
  'hf-tgi-preferred': [
    '--serve-name', 'gpt2', '--model-uri', `hf://gpt2@${PINNED_COMMIT}`, '--runtime', 'tgi', '--namespace', 'llm',
    '--gpu', '1', '--node-affinity', 'preferred', '--max-model-len', '1024', '--dtype', 'float16',
    '--node-host-path', '/var/lib/modelctl', '--hf-token-secret', 'modelctl-hf-token',
  ],
  // a custom server image on CPU: the model through the environment, its own port and readiness path
  'hf-custom-cpu': [
    '--serve-name', 'tiny', '--model-uri', `hf://modelctl-test/tiny-gpt2@${PINNED_COMMIT}`, '--runtime', 'custom',
    '--image', 'modelctl-llm-test:dev', '--port', '8000', '--readiness-path', '/v1/models', '--namespace', 'llm',
    '--cores', '1', '--memory', '2', '--arg', '--threads=1', '--env', 'LOG_LEVEL=debug',
  ],
};

/** Runs the built CLI; throws with stderr when it fails. */
export async function modelctl(
  args: string[],
  env: NodeJS.ProcessEnv = process.env,
): Promise<{ stdout: string; stderr: string }> {
  if (!existsSync(path.join(repoRoot, 'dist/cli/main.js'))) throw new Error('dist/ is missing: run `make build` first');
  return execFileAsync(path.join(repoRoot, 'bin/modelctl'), args, { cwd: repoRoot, env, maxBuffer: 16 * 1024 * 1024 });
}
