import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, readlink, realpath, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readMlflowPeer, type MlflowLoggedModel } from '../testkit/peers/mlflow.js';
import { startModelctlServe } from '../testkit/modelctl-process.js';
import { expectOnlyModelIn, listFiles, readsSame, runFetch, sameFiles } from './fetch-helpers.js';

const mlflow = readMlflowPeer();
const iris = mlflow.models.iris;
const version = (v: string): MlflowLoggedModel => iris.versions.find((mv) => mv.version === v)!;

let work: string;
let n = 0;
/** A fresh OUTPUT_PATH per fetch. */
const outDir = (): string => path.join(work, `out-${++n}`);

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-fetch-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('modelctl fetch (emptydir) puts every URI form at OUTPUT_PATH/model', () => {
  const cases: [string, () => string, () => MlflowLoggedModel | { files: string[]; localPath: string }][] = [
    ['a version number', () => `models:/${iris.name}/2`, () => version('2')],
    ['a stage, in lower case', () => `models:/${iris.name}/production`, () => version(iris.stages.Production!)],
    ['latest', () => `models:/${iris.name}/latest`, () => version(iris.latest)],
    ['an alias', () => `models:/${iris.name}@champion`, () => version(iris.aliases.champion!)],
    ['an MLflow 3 logged model', () => mlflow.models.loggedModel.modelUri, () => mlflow.models.loggedModel],
    ['a run artifact path', () => mlflow.models.runArtifact.runUri, () => mlflow.models.runArtifact],
    ['a run path naming the model it logged (MLflow 3)', () => `runs:/${version('2').runId}/model`, () => version('2')],
    ['an mlflow-artifacts URI', () => `mlflow-artifacts:/${version('3').artifactPath}`, () => version('3')],
    ['a model with external ONNX data', () => mlflow.models.external.registryUri, () => mlflow.models.external],
    ['a local folder', () => version('1').localPath, () => version('1')],
  ];

  it.each(cases)('%s', async (_name, uri, expected) => {
    const out = outDir();
    const run = await runFetch({ MODEL_URI: uri(), OUTPUT_PATH: out, MLFLOW_TRACKING_URI: mlflow.url });
    expect({ code: run.code, output: run.output }).toEqual({ code: 0, output: expect.stringContaining('model ready') });
    const model = path.join(out, 'model');
    expect(await listFiles(model)).toEqual(expected().files);
    expect(await sameFiles(model, expected().localPath)).toBe(true);
    // OUTPUT_PATH shows the model too (MODEL_LOCAL_PATH=OUTPUT_PATH), and holds no staging folders
    await expectOnlyModelIn(out, expected().files);
    expect(await readsSame(out, expected().localPath, expected().files)).toBe(true);
  });
});

describe('modelctl fetch against the basic-auth server', () => {
  const auth = mlflow.authModels.iris;

  it('downloads with the right user and password', async () => {
    const out = outDir();
    const run = await runFetch({
      MODEL_URI: `models:/${auth.name}@champion`,
      OUTPUT_PATH: out,
      MLFLOW_TRACKING_URI: mlflow.authUrl,
      MLFLOW_TRACKING_USERNAME: mlflow.username,
      MLFLOW_TRACKING_PASSWORD: mlflow.password,
    });
    expect(run.code).toBe(0);
    const champion = auth.versions.find((v) => v.version === auth.aliases.champion)!;
    expect(await sameFiles(path.join(out, 'model'), champion.localPath)).toBe(true);
  });

  it('fails at once on a wrong password with exit 2, naming what to check and never the password', async () => {
    const wrong = 'not-the-password-9f8e7d';
    const started = Date.now();
    const run = await runFetch({
      MODEL_URI: `models:/${auth.name}/1`,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: mlflow.authUrl,
      MLFLOW_TRACKING_USERNAME: mlflow.username,
      MLFLOW_TRACKING_PASSWORD: wrong,
      MAX_RETRIES: '5',
      BACKOFF_SECONDS: '2',
    });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(/answered 401 for version 1 of model "iris-onnx".*MLFLOW_TRACKING_PASSWORD/);
    expect(run.output).not.toContain(wrong);
    expect(run.output).not.toContain('retrying');
    expect(Date.now() - started).toBeLessThan(15_000);
  });

  it('fails with exit 2 without credentials', async () => {
    const run = await runFetch({
      MODEL_URI: `models:/${auth.name}/1`,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: mlflow.authUrl,
    });
    expect(run.code).toBe(2);
    expect(run.output).toContain('answered 401');
  });
});

describe('modelctl fetch names what is missing and exits 2 without retrying', () => {
  it.each([
    ['a missing model', `models:/no-such-model/1`, /version 1 of model "no-such-model" not found/],
    ['a missing version', `models:/iris-onnx/99`, /version 99 of model "iris-onnx" not found/],
    ['a missing alias', `models:/iris-onnx@nobody`, /alias "nobody" of model "iris-onnx" not found/],
    ['an empty stage', `models:/iris-onnx/Archived`, /the Archived version of model "iris-onnx" not found/],
    [
      'a missing logged model',
      `models:/m-0123456789abcdef0123456789abcdef`,
      /logged model m-0123456789abcdef0123456789abcdef not found/,
    ],
    ['a run path without a model', `runs:/${'0'.repeat(32)}/model`, /run 0{32} not found/],
  ])('%s', async (_name, uri, message) => {
    const out = outDir();
    const run = await runFetch({ MODEL_URI: uri, OUTPUT_PATH: out, MLFLOW_TRACKING_URI: mlflow.url, MAX_RETRIES: '4' });
    expect({ code: run.code, message: message.test(run.output) }).toEqual({ code: 2, message: true });
    expect(run.output).not.toContain('retrying');
    expect(await listFiles(out)).toEqual([]);
  });

  it('exits 1 on a bad configuration, one line per variable', async () => {
    const run = await runFetch({
      MODEL_URI: `models:/iris-onnx/1`,
      OUTPUT_PATH: outDir(),
      MAX_RETRIES: 'many',
      STORAGE_STRATEGY: 'nfs',
    });
    expect(run.code).toBe(1);
    expect(run.output).toMatch(/^MAX_RETRIES: .*$/m);
    expect(run.output).toMatch(/^STORAGE_STRATEGY: .*"emptydir".*"pvc".*$/m);
    const noServer = await runFetch({
      MODEL_URI: `models:/iris-onnx/1`,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: '',
    });
    expect(noServer.code).toBe(1);
    expect(noServer.output).toMatch(/^MLFLOW_TRACKING_URI: required for models: URIs$/m);
  });

  it('exits 3 when the server cannot be reached through its retries', async () => {
    const run = await runFetch({
      MODEL_URI: `models:/iris-onnx/1`,
      OUTPUT_PATH: outDir(),
      MLFLOW_TRACKING_URI: 'http://127.0.0.1:9',
      MAX_RETRIES: '2',
      BACKOFF_SECONDS: '0.05',
    });
    expect(run.code).toBe(3);
    expect(run.output).toMatch(
      /could not reach MLflow at http:\/\/127\.0\.0\.1:9.*ECONNREFUSED.*gave up .* after 2 retries/,
    );
    expect(run.lines.filter((l) => l.msg === 'retrying')).toHaveLength(2);
  });
});

describe('a fetched model is served by modelctl serve', () => {
  it.each([['emptydir'], ['pvc']])('%s', async (strategy) => {
    const out = outDir();
    const run = await runFetch({
      MODEL_URI: `models:/${iris.name}/Production`,
      OUTPUT_PATH: out,
      STORAGE_STRATEGY: strategy,
      CACHE_PATH: path.join(work, `cache-serve-${strategy}`),
      MLFLOW_TRACKING_URI: mlflow.url,
    });
    expect(run.code).toBe(0);
    const modelPath = path.join(out, 'model');
    if (strategy === 'pvc') expect(await readlink(modelPath)).toBe(await realpath(modelPath));
    // deploy renders MODEL_LOCAL_PATH=OUTPUT_PATH; OUTPUT_PATH/model works too
    const serve = await startModelctlServe({ MODEL_LOCAL_PATH: strategy === 'emptydir' ? out : modelPath });
    try {
      const res = await fetch(`${serve.url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: mlflow.models.sampleInput }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { predictions: Record<string, unknown[]> | unknown[] };
      const outputs = Array.isArray(body.predictions) ? body.predictions : Object.values(body.predictions)[0];
      expect(outputs).toHaveLength(mlflow.models.sampleInput.length);
    } finally {
      await serve.stop();
    }
  });
});
