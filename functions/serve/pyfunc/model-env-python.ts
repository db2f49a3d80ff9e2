import { AppError } from '../../../shared/errors/app-error.js';
import { isModelEnvComplete, modelEnvPaths } from '../../../shared/model/model-env.js';

/**
 * MODEL_ENV=install: the interpreter of the env fetch built beside the model (shared/model/model-env.ts), used
 * only when its env.json names the model's requirements.txt as it is now (a half-built, stale or corrupted env
 * is refused, never run).
 * @throws AppError MODEL_ENV_MISSING in one line that says what to do
 */
export function modelEnvPython(modelDir: string): string {
  const paths = modelEnvPaths(modelDir);
  if (paths === null)
    throw new AppError({
      code: 'MODEL_ENV_MISSING',
      statusCode: 400,
      message: `MODEL_ENV=install: ${modelDir} has no requirements.txt to build an env from; unset MODEL_ENV`,
    });
  if (!isModelEnvComplete(paths))
    throw new AppError({
      code: 'MODEL_ENV_MISSING',
      statusCode: 400,
      message: `MODEL_ENV=install: no complete env for this model's requirements.txt at ${paths.dir}: run modelctl fetch with MODEL_ENV=install first`,
    });
  return paths.python;
}
