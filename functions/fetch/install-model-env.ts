import { execFile } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdir, readdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { promisify } from 'node:util';
import { AppError } from '../../shared/errors/app-error.js';
import type { Logger } from '../../shared/log/create-logger.js';
import { acquireOrWait } from '../../shared/model-cache/cache-lock.js';
import {
  isModelEnvComplete,
  modelEnvPaths,
  type ModelEnvMarker,
  type ModelEnvPaths,
} from '../../shared/model/model-env.js';

const run = promisify(execFile);
const TEMP_PREFIX = '.building-';

/** How the model's Python environment got there. */
export type ModelEnvSource = 'env-cached' | 'env-built';

/**
 * `MODEL_ENV=install`: the model's pinned requirements.txt as a virtualenv beside the model
 * (shared/model/model-env.ts), built once: with a lock (the cache entry's own lease, so cleanup leaves it alone
 * meanwhile, and N pods starting together build it once), under a temporary name, published by one rename
 * with `env.json` inside; a complete env is reused without pip, a half-built one is never used.
 * The env layers on `python`'s packages (a .pth file), so pip installs only the pins that interpreter lacks.
 * @throws AppError MODEL_ENV_FAILED with pip's last line
 */
export async function installModelEnv(params: {
  modelDir: string;
  /** the interpreter with MLflow (SERVE_PYTHON); the env's base */
  python: string;
  /** the cache entry's lease, for pvc; null builds without one (emptydir: one pod) */
  lockPath: string | null;
  staleMs: number;
  log: Logger;
}): Promise<{ source: ModelEnvSource; dir: string; ms: number }> {
  const started = Date.now();
  const paths = modelEnvPaths(params.modelDir);
  if (paths === null)
    throw new AppError({
      code: 'MODEL_ENV_FAILED',
      statusCode: 400,
      message: `MODEL_ENV=install needs the model's requirements.txt, and ${params.modelDir} has none`,
    });
  const done = async (): Promise<boolean> => isModelEnvComplete(paths);
  if (await done()) return { source: 'env-cached', dir: paths.dir, ms: Date.now() - started };
  if (params.lockPath === null) {
    await build(paths, params);
    return { source: 'env-built', dir: paths.dir, ms: Date.now() - started };
  }
  const waited = await acquireOrWait({
    lockPath: params.lockPath,
    isDone: done,
    staleMs: params.staleMs,
    heartbeatMs: Math.min(5000, params.staleMs / 3),
    onWait: (owner) => params.log.info({ env: paths.dir, holder: owner }, 'waiting for another pod to build the env'),
  });
  if (waited.done) return { source: 'env-cached', dir: paths.dir, ms: Date.now() - started };
  try {
    await build(paths, params, () => waited.lock.assertHeld());
  } finally {
    await waited.lock.release();
  }
  return { source: 'env-built', dir: paths.dir, ms: Date.now() - started };
}

/** venv under a temporary name → base .pth → pip install -r → env.json → one rename. */
async function build(
  paths: ModelEnvPaths,
  params: { python: string; log: Logger },
  beforePublish: () => Promise<void> = async () => undefined,
): Promise<void> {
  await mkdir(paths.envsDir, { recursive: true });
  await removeDeadBuilds(paths.envsDir);
  const temp = path.join(paths.envsDir, `${TEMP_PREFIX}${path.basename(paths.dir)}.${randomBytes(6).toString('hex')}`);
  params.log.info({ env: paths.dir, base: params.python }, 'building the model env');
  try {
    const base = await sitePackages(params.python);
    await pythonStep(params.python, ['-m', 'venv', '--without-pip', temp], 'python -m venv');
    const [venvSite] = await sitePackages(path.join(temp, 'bin', 'python'));
    if (venvSite === undefined) throw new Error(`no site-packages in ${temp}`);
    // after the env's own site-packages on sys.path: the model's pins shadow the base's versions
    await writeFile(path.join(venvSite, '_modelctl_base.pth'), `${base.join('\n')}\n`);
    const requirements = path.join(temp, 'requirements.txt');
    await writeFile(requirements, paths.requirements);
    // pip of the base interpreter, installing into the env (--python): the env needs no pip of its own
    await pythonStep(
      params.python,
      [
        '-m',
        'pip',
        '--python',
        path.join(temp, 'bin', 'python'),
        'install',
        '--no-input',
        '--disable-pip-version-check',
        '--quiet',
        '-r',
        requirements,
      ],
      'pip install -r requirements.txt',
    );
    const marker: ModelEnvMarker = {
      requirementsSha256: paths.requirementsSha256,
      base: params.python,
      createdAt: new Date().toISOString(),
    };
    await writeFile(path.join(temp, 'env.json'), `${JSON.stringify(marker)}\n`);
    await beforePublish();
    await rm(paths.dir, { recursive: true, force: true }); // an env without a matching env.json
    await rename(temp, paths.dir);
  } finally {
    await rm(temp, { recursive: true, force: true });
  }
}

async function pythonStep(python: string, args: string[], what: string): Promise<string> {
  try {
    const { stdout } = await run(python, args, { maxBuffer: 16 << 20 });
    return stdout;
  } catch (cause) {
    const stderr = String((cause as { stderr?: unknown }).stderr ?? '').trim();
    const last = stderr.split('\n').filter(Boolean).pop() ?? (cause as Error).message;
    throw new AppError({
      code: 'MODEL_ENV_FAILED',
      statusCode: 500,
      message: `MODEL_ENV=install: ${what} failed with ${python}: ${last}`,
      cause,
    });
  }
}

async function sitePackages(python: string): Promise<string[]> {
  const out = await pythonStep(python, ['-c', 'import site, json; print(json.dumps(site.getsitepackages()))'], 'site');
  return JSON.parse(out) as string[];
}

/** Under the lease, any `.building-*` folder is a dead builder's (or this one's last try). */
async function removeDeadBuilds(envsDir: string): Promise<void> {
  const names = await readdir(envsDir).catch(() => [] as string[]);
  await Promise.all(
    names
      .filter((n) => n.startsWith(TEMP_PREFIX))
      .map((n) => rm(path.join(envsDir, n), { recursive: true, force: true })),
  );
}
