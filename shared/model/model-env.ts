import { createHash } from 'node:crypto';
import { readFileSync, realpathSync } from 'node:fs';
import path from 'node:path';

/**
 * Where `MODEL_ENV=install` keeps a model's Python environment: beside the model folder it was built for,
 * `<real model folder>/../envs/<hash of requirements.txt>/` (in the PVC cache that is `entries/<key>/envs/…`, so
 * cleanup evicts it with the model). fetch builds it under a temporary name in `envs/` and publishes it with one
 * rename, `env.json` written inside before; serve uses it only when `env.json` names the same requirements.
 */
export interface ModelEnvPaths {
  /** `<real model folder>/../envs` */
  envsDir: string;
  /** `envs/<hash>`: a virtualenv (bin/python) */
  dir: string;
  python: string;
  /** `envs/<hash>/env.json`: {requirementsSha256, python, createdAt}, written before the publishing rename */
  marker: string;
  /** sha256 of requirements.txt */
  requirementsSha256: string;
  requirements: string;
}

/** What `env.json` holds. */
export interface ModelEnvMarker {
  requirementsSha256: string;
  /** the interpreter whose packages the env layers on */
  base: string;
  createdAt: string;
}

/**
 * The env paths of the model in `modelDir` (a folder holding MLmodel, or OUTPUT_PATH with links into model/).
 * @returns null when the model has no requirements.txt
 */
export function modelEnvPaths(modelDir: string): ModelEnvPaths | null {
  let requirements: string;
  try {
    requirements = readFileSync(path.join(modelDir, 'requirements.txt'), 'utf8');
  } catch {
    return null;
  }
  // through the MLmodel link: OUTPUT_PATH/MLmodel -> model/MLmodel -> the cache entry's model/MLmodel
  const realModelDir = path.dirname(realpathSync(path.join(modelDir, 'MLmodel')));
  const requirementsSha256 = createHash('sha256').update(requirements).digest('hex');
  const envsDir = path.join(path.dirname(realModelDir), 'envs');
  const dir = path.join(envsDir, requirementsSha256.slice(0, 16));
  return {
    envsDir,
    dir,
    python: path.join(dir, 'bin', 'python'),
    marker: path.join(dir, 'env.json'),
    requirementsSha256,
    requirements,
  };
}

/** True when `paths.dir` is a published env for exactly these requirements. */
export function isModelEnvComplete(paths: ModelEnvPaths): boolean {
  try {
    const marker = JSON.parse(readFileSync(paths.marker, 'utf8')) as Partial<ModelEnvMarker>;
    return marker.requirementsSha256 === paths.requirementsSha256;
  } catch {
    return false;
  }
}
