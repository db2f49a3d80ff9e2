import { AppError } from '../../shared/errors/app-error.js';
import type { ModelUri } from '../../shared/mlflow/parse-model-uri.js';
import type { FetchContext, FetchResult } from './fetch-model.js';

/** `hf://org/name[@revision]`: not implemented yet (see the issue 4 report). */
export function fetchHf(_ctx: FetchContext, uri: Extract<ModelUri, { kind: 'hf' }>): Promise<FetchResult> {
  return Promise.reject(
    new AppError({
      code: 'HF_NOT_CACHED',
      statusCode: 501,
      message: `hf://${uri.repo}: Hugging Face models are not supported by fetch yet`,
    }),
  );
}
