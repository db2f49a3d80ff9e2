import { describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { parseEnv, withoutEmpty } from '../../shared/config/parse-env.js';
import { FetchEnv, fetchSettingsOf } from './fetch-config.js';

describe('FetchEnv', () => {
  it("applies the seed's defaults and treats empty values as unset", () => {
    const config = parseEnv(
      FetchEnv,
      withoutEmpty({ MODEL_URI: 'models:/iris/1', MLFLOW_TRACKING_URI: 'http://mlflow:5000', MAX_RETRIES: '' }),
    );
    expect(config).toMatchObject({
      OUTPUT_PATH: '/models',
      STORAGE_STRATEGY: 'emptydir',
      CACHE_PATH: '/model-cache',
      MAX_RETRIES: 3,
      BACKOFF_SECONDS: 5,
      MLFLOW_TRACKING_INSECURE_TLS: false,
    });
  });

  it('makes paths absolute and reads "false" as false', () => {
    const config = parseEnv(FetchEnv, {
      MODEL_URI: './m',
      OUTPUT_PATH: 'out',
      CACHE_PATH: 'cache',
      MLFLOW_TRACKING_INSECURE_TLS: 'false',
    });
    expect(config.OUTPUT_PATH).toBe(path.resolve('out'));
    expect(config.CACHE_PATH).toBe(path.resolve('cache'));
    expect(config.MLFLOW_TRACKING_INSECURE_TLS).toBe(false);
  });

  it('names each bad variable on its own line', () => {
    expect(() =>
      parseEnv(FetchEnv, { MODEL_URI: 'models:/iris/1', STORAGE_STRATEGY: 'nfs', BACKOFF_SECONDS: '-1' }),
    ).toThrow(/^STORAGE_STRATEGY: .*\nBACKOFF_SECONDS: .*$/);
    expect(() => parseEnv(FetchEnv, { MODEL_URI: 'runs:/abc/model' })).toThrow(
      /^MLFLOW_TRACKING_URI: required for runs: URIs$/,
    );
    expect(() =>
      parseEnv(FetchEnv, {
        MODEL_URI: 'models:/iris/1',
        MLFLOW_TRACKING_URI: 'http://m',
        MLFLOW_TRACKING_PASSWORD: 'p',
      }),
    ).toThrow(/^MLFLOW_TRACKING_USERNAME: required when MLFLOW_TRACKING_PASSWORD is set$/);
  });
});

describe('fetchSettingsOf', () => {
  it('maps the env onto camelCase settings, the units in the names', () => {
    const env = parseEnv(FetchEnv, {
      MODEL_URI: 'hf://org/name',
      STORAGE_STRATEGY: 'pvc',
      LOCK_STALE_SECONDS: '12',
      BACKOFF_SECONDS: '0.5',
      FETCH_TIMEOUT_SECONDS: '7',
      FETCH_MAX_MODEL_GB: '2',
      FETCH_FILE_ARTIFACT_ROOTS: '/a, /b',
      HF_ENDPOINT: 'http://hub.local:8000/',
      HF_HUB_CACHE: '/hf',
    });
    expect(fetchSettingsOf(env)).toEqual({
      modelUri: 'hf://org/name',
      outputPath: '/models',
      storageStrategy: 'pvc',
      cachePath: '/model-cache',
      cacheVerify: 'quick',
      lockStaleMs: 12_000,
      concurrency: 4,
      fileArtifactRoots: ['/a', '/b'],
      maxModelBytes: 2 * 2 ** 30,
      retry: { maxRetries: 3, baseDelayMs: 500 },
      mlflow: {
        trackingUri: undefined,
        username: undefined,
        password: undefined,
        token: undefined,
        insecureTls: false,
        timeoutMs: 7000,
      },
      hub: { endpoint: 'http://hub.local:8000', token: undefined, nodeCache: '/hf' },
      modelEnv: 'none',
      servePython: 'python3',
    });
  });
});
