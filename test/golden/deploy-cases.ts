import { execFile } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/** The cases of the golden files (test/golden/deploy-<name>.yaml) and a runner of the built CLI. */

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../..');

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
  // Hugging Face model from the node cache, on a GPU type, required affinity
  'hf-gpu-emptydir': [
    '--serve-name', 'qwen', '--model-uri', 'hf://Qwen/Qwen2.5-0.5B-Instruct@main', '--artifact-version', 'v1',
    '--namespace', 'llm', '--cores', '8', '--memory', '32', '--gpu', '1', '--gpu-type', 'nvidia-l4',
    '--hf-token-secret', 'modelctl-hf-token',
  ],
  // Hugging Face model with the PVC strategy, only preferring nodes that have it
  'hf-pvc-preferred': [
    '--serve-name', 'llama', '--model-uri', 'hf://meta-llama/Llama-3.1-8B-Instruct', '--namespace', 'modelctl-system',
    '--storage', 'pvc', '--node-affinity', 'preferred', '--model-size', '16', '--progress-deadline', '45m',
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
