import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe } from '../testkit/modelctl-process.js';

/** modelctl serve on models and requests an attacker or an old MLflow sends (issue 14). */
let work: string;

beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-serve-hostile-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

describe('modelctl serve loads what older MLflow versions wrote', () => {
  it('an MLmodel whose signature has no params key (MLflow < 2.6)', async () => {
    const dir = path.join(work, 'iris-no-params');
    await cp(path.join(EXAMPLE_MODELS, 'iris'), dir, { recursive: true });
    const mlmodel = await readFile(path.join(dir, 'MLmodel'), 'utf8');
    const without = mlmodel.replace(/^ {2}params: .*\n/m, '');
    expect(without).not.toEqual(mlmodel);
    expect(without).not.toMatch(/^ {2}params:/m);
    await writeFile(path.join(dir, 'MLmodel'), without);
    const serve = await startModelctlServe({ MODEL_LOCAL_PATH: dir });
    try {
      const res = await fetch(`${serve.url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
      });
      expect(res.status).toBe(200);
      const body = (await res.json()) as { predictions: Record<string, unknown[]> };
      expect(body.predictions.label).toHaveLength(1);
    } finally {
      await serve.stop();
    }
  });
});

describe('modelctl serve refuses a ragged array whose first row implies a huge tensor, before allocating it', () => {
  // 250 000 numbers in the first row, then 250 000 rows of one: 1.5 MB that imply 6.25e10 float32 values
  const rows = 250_000;
  const ragged = `[[${'1,'.repeat(rows - 1)}1]${',[1]'.repeat(rows - 1)}]`;
  const requests: [string, string, string][] = [
    ['MLflow /invocations', '/invocations', `{"inputs": ${ragged}}`],
    ['KServe v1', '/v1/models/model:predict', `{"instances": ${ragged}}`],
    [
      'Open Inference Protocol v2',
      '/v2/models/model/infer',
      `{"inputs": [{"name": "X", "shape": [${rows}, ${rows}], "datatype": "FP32", "data": ${ragged}}]}`,
    ],
  ];
  let serve: Awaited<ReturnType<typeof startModelctlServe>>;
  beforeAll(async () => {
    serve = await startModelctlServe({ MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris'), MODEL_NAME: 'model' });
  });
  afterAll(async () => {
    await serve.stop();
  });

  it.each(requests)('%s: 400, and the server still answers', async (_name, route, body) => {
    const res = await fetch(`${serve.url}${route}`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body,
    });
    const text = await res.text();
    expect({ status: res.status, text: text.slice(0, 200) }).toEqual({
      status: 400,
      text: expect.stringMatching(/ragged|values|shape/i),
    });
    const ok = await fetch(`${serve.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
    });
    expect(ok.status).toBe(200);
  });
});

describe('modelctl serve names the model after its Knative Service', () => {
  it('answers /v2/models/<K_SERVICE> and /v1/models/<K_SERVICE> in a deployed pod (MODEL_LOCAL_PATH=/models/model)', async () => {
    const dir = path.join(work, 'models', 'model');
    await cp(path.join(EXAMPLE_MODELS, 'iris'), dir, { recursive: true });
    const serve = await startModelctlServe({ MODEL_LOCAL_PATH: dir, K_SERVICE: 'iris-prod' });
    try {
      const v2 = await fetch(`${serve.url}/v2/models/iris-prod`);
      expect(v2.status).toBe(200);
      expect(((await v2.json()) as { name: string }).name).toBe('iris-prod');
      const v1 = await fetch(`${serve.url}/v1/models/iris-prod:predict`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ instances: [[5.1, 3.5, 1.4, 0.2]] }),
      });
      expect(v1.status).toBe(200);
      expect((await fetch(`${serve.url}/v2/models/model`)).status).toBe(404);
    } finally {
      await serve.stop();
    }
  });
});
