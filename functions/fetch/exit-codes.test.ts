import { describe, expect, it } from '@jest/globals';
import { AppError } from '../../shared/errors/app-error.js';
import { HubError } from '../../shared/hub/hub-error.js';
import { MlflowError } from '../../shared/mlflow/mlflow-error.js';
import { EXIT, exitCodeFor } from './exit-codes.js';

describe('exitCodeFor', () => {
  it('maps the codes of fetch and its adapters as modelctl fetch --help documents them', () => {
    expect(exitCodeFor(new AppError({ code: 'INVALID_MODEL_URI', message: 'x' }))).toBe(EXIT.config);
    expect(exitCodeFor(new MlflowError({ code: 'MODEL_NOT_FOUND', message: 'x' }))).toBe(EXIT.permanent);
    expect(exitCodeFor(new MlflowError({ code: 'MLFLOW_UNAVAILABLE', message: 'x' }))).toBe(EXIT.retriesExhausted);
    expect(exitCodeFor(new AppError({ code: 'NO_SPACE', message: 'x' }))).toBe(EXIT.noSpace);
    // a 2xx that breaks the Hub's API is permanent, as MLflow's is (was "anything else" before the table was total)
    expect(exitCodeFor(new AppError({ code: 'HUB_BAD_RESPONSE', message: 'x' }))).toBe(EXIT.permanent);
  });

  it('lets a HubError say itself whether it is permanent (a 408 is not)', () => {
    const timeout = new HubError({ code: 'HUB_BAD_RESPONSE', message: 'x', status: 408, permanent: false });
    expect(exitCodeFor(timeout)).toBe(EXIT.retriesExhausted);
    const gated = new HubError({ code: 'HUB_GATED_REPO', message: 'x', status: 403, permanent: true });
    expect(exitCodeFor(gated)).toBe(EXIT.permanent);
  });

  it('gives ENOSPC exit 4 and anything else exit 5', () => {
    expect(exitCodeFor(Object.assign(new Error('full'), { code: 'ENOSPC' }))).toBe(EXIT.noSpace);
    expect(exitCodeFor(new AppError({ code: 'KUBE_ERROR', message: 'x' }))).toBe(EXIT.other);
    expect(exitCodeFor(new Error('bug'))).toBe(EXIT.other);
  });
});
