import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readMlflowPeer } from '../testkit/peers/mlflow.js';
import { runModelctl, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { freePort } from '../testkit/peers/peer-run.js';

/**
 * The replaced MLflow serving runtime's contracts, as its users wrote them, against the real MLflow peer:
 * `serve` with only MLFLOW_MODEL_URI (+ tracking URI/credentials) downloads the model itself, and the runtime's
 * documented custom deployment (init container model-downloader with MODEL_URI + STORAGE_STRATEGY=pvc, container
 * model-server with MODEL_LOCAL_PATH=/models and no args) works with only the image swapped. Here the containers
 * are processes and the pod's volumes temp folders; the cluster e2e suite runs the same YAML in a pod.
 */

const mlflow = readMlflowPeer();
const iris = mlflow.models.iris;
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-contract-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

async function predict(serve: ModelctlProcess): Promise<unknown> {
  const res = await fetch(`${serve.url}/invocations`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: mlflow.models.sampleInput }),
  });
  expect(res.status).toBe(200);
  return res.json();
}

/** The answer of the same version served from the peer's own copy of its files. */
async function expectedAnswer(version: string): Promise<unknown> {
  const local = iris.versions.find((v) => v.version === version)!.localPath;
  const serve = await startModelctlServe({ MODEL_LOCAL_PATH: local });
  try {
    return await predict(serve);
  } finally {
    await serve.stop();
  }
}

describe('modelctl serve with only MLFLOW_MODEL_URI and MLFLOW_TRACKING_URI', () => {
  it('downloads the model with fetch’s code, then serves it (MODEL_LOCAL_PATH is optional)', async () => {
    const serve = await startModelctlServe(
      {
        MLFLOW_MODEL_URI: `models:/${iris.name}/Production`,
        MLFLOW_TRACKING_URI: mlflow.url,
        OUTPUT_PATH: path.join(work, 'serve-only-uri'),
        LOG_LEVEL: 'info',
      },
      { readyTimeoutMs: 60_000 },
    );
    try {
      expect(await predict(serve)).toEqual(await expectedAnswer(iris.stages.Production!));
      expect(serve.output()).toContain('model downloaded');
    } finally {
      await serve.stop();
    }
  });

  it('uses MLFLOW_TRACKING_USERNAME/PASSWORD against an auth-protected tracking server', async () => {
    const auth = mlflow.authModels.iris;
    const serve = await startModelctlServe(
      {
        MLFLOW_MODEL_URI: `models:/${auth.name}@champion`,
        MLFLOW_TRACKING_URI: mlflow.authUrl,
        MLFLOW_TRACKING_USERNAME: mlflow.username,
        MLFLOW_TRACKING_PASSWORD: mlflow.password,
        OUTPUT_PATH: path.join(work, 'serve-auth'),
      },
      { readyTimeoutMs: 60_000 },
    );
    try {
      const body = (await predict(serve)) as { predictions: unknown };
      expect(body.predictions).toBeDefined();
    } finally {
      await serve.stop();
    }
  });

  it('exits 1 with one line when the download is refused, never printing the password', async () => {
    const wrong = 'wrong-password-5c4b3a';
    const proc = runModelctl(['serve'], {
      MLFLOW_MODEL_URI: `models:/${mlflow.authModels.iris.name}/1`,
      MLFLOW_TRACKING_URI: mlflow.authUrl,
      MLFLOW_TRACKING_USERNAME: mlflow.username,
      MLFLOW_TRACKING_PASSWORD: wrong,
      OUTPUT_PATH: path.join(work, 'serve-refused'),
      PORT: String(await freePort()),
    });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toMatch(/modelctl serve: MLFLOW_MODEL_URI models:\/.*answered 401/);
    expect(proc.output()).not.toContain(wrong);
  });
});

describe("the replaced runtime's custom deployment, with only the image swapped", () => {
  it('model-downloader (MODEL_URI, STORAGE_STRATEGY=pvc, no args) then model-server (MODEL_LOCAL_PATH, no args)', async () => {
    // the pod's volumes: /models (emptyDir) and /model-cache (the PVC)
    const models = path.join(work, 'pod', 'models');
    const cache = path.join(work, 'pod', 'model-cache');
    const downloader = runModelctl([], {
      MODEL_URI: `models:/${iris.name}/Production`,
      STORAGE_STRATEGY: 'pvc',
      MLFLOW_TRACKING_URI: mlflow.url,
      OUTPUT_PATH: models,
      CACHE_PATH: cache,
    });
    expect({ code: await downloader.exited, output: downloader.output() }).toEqual({
      code: 0,
      output: expect.stringContaining('model ready'),
    });
    const port = await freePort();
    const server = runModelctl([], { MODEL_LOCAL_PATH: models, PORT: String(port), HOST: '127.0.0.1' });
    const url = `http://127.0.0.1:${port}`;
    try {
      for (let i = 0; i < 300; i++) {
        if (
          await fetch(`${url}/health/readiness`).then(
            (r) => r.ok,
            () => false,
          )
        )
          break;
        await new Promise((r) => setTimeout(r, 100));
      }
      expect(await predict({ ...server, url })).toEqual(await expectedAnswer(iris.stages.Production!));
    } finally {
      await server.stop();
    }
  });

  it('MODELCTL_ROLE picks the role of a container without args, whatever else its env says', async () => {
    const proc = runModelctl([], { MODELCTL_ROLE: 'fetch', MODEL_LOCAL_PATH: '/nowhere' });
    expect(await proc.exited).toBe(1);
    expect(proc.output()).toContain('modelctl fetch: invalid configuration');
    expect(proc.output()).toContain('MODEL_URI');
  });
});
