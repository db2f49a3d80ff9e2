import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { EXAMPLE_MODELS, runModelctl, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { FIXTURE_MODELS } from './fixture-models.js';

const IRIS = path.join(EXAMPLE_MODELS, 'iris');
const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];

async function post(
  url: string,
  body: string,
  contentType = 'application/json',
): Promise<{ status: number; json: unknown; text: string }> {
  const res = await fetch(url, { method: 'POST', headers: { 'Content-Type': contentType }, body });
  const text = await res.text();
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch {
    json = undefined;
  }
  return { status: res.status, json, text };
}

describe('modelctl serve on the example model', () => {
  let server: ModelctlProcess;
  beforeAll(async () => {
    server = await startModelctlServe({ MODEL_LOCAL_PATH: IRIS });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('answers the MLflow health and version routes', async () => {
    expect((await fetch(`${server.url}/ping`)).status).toBe(200);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);
    expect(await (await fetch(`${server.url}/version`)).text()).toMatch(/^\d+\.\d+\.\d+/);
    expect((await fetch(`${server.url}/health/liveness`)).status).toBe(200);
    expect((await fetch(`${server.url}/health/readiness`)).status).toBe(200);
  });

  it('predicts with every JSON input format and CSV, giving the same answer', async () => {
    const bodies = [
      JSON.stringify({ inputs: ROWS }),
      JSON.stringify({ instances: ROWS }),
      JSON.stringify({ dataframe_split: { columns: ['a', 'b', 'c', 'd'], data: ROWS } }),
      JSON.stringify({ dataframe_records: ROWS.map(([a, b, c, d]) => ({ a, b, c, d })) }),
    ];
    const answers = await Promise.all(bodies.map((b) => post(`${server.url}/invocations`, b)));
    const csv = await post(
      `${server.url}/invocations`,
      `a,b,c,d\n${ROWS.map((r) => r.join(',')).join('\n')}\n`,
      'text/csv',
    );
    for (const a of [...answers, csv]) {
      expect(a.status).toBe(200);
      expect(a.json).toEqual(answers[0]!.json);
    }
    const { predictions } = answers[0]!.json as { predictions: { label: number[]; probabilities: number[][] } };
    expect(predictions.label).toEqual([0, 2]);
    expect(predictions.probabilities[0]![0]).toBeCloseTo(0.98157, 4);
  });

  it('answers Open Inference Protocol v2 with metadata and flat outputs', async () => {
    expect(await (await fetch(`${server.url}/v2/health/ready`)).json()).toEqual({ ready: true });
    expect((await fetch(`${server.url}/v2/health/live`)).status).toBe(200);
    const meta = (await (await fetch(`${server.url}/v2/models/iris`)).json()) as { inputs: unknown[] };
    expect(meta.inputs).toEqual([{ name: 'X', datatype: 'FP32', shape: [-1, 4] }]);
    expect(await (await fetch(`${server.url}/v2/models/iris/ready`)).json()).toEqual({ name: 'iris', ready: true });
    const res = await post(
      `${server.url}/v2/models/iris/infer`,
      JSON.stringify({ id: 'r1', inputs: [{ name: 'X', shape: [2, 4], datatype: 'FP32', data: ROWS.flat() }] }),
    );
    expect(res.status).toBe(200);
    const body = res.json as {
      id: string;
      outputs: { name: string; shape: number[]; datatype: string; data: number[] }[];
    };
    expect(body.id).toBe('r1');
    expect(body.outputs.find((o) => o.name === 'label')).toEqual({
      name: 'label',
      datatype: 'INT64',
      shape: [2],
      data: [0, 2],
    });
    expect(body.outputs.find((o) => o.name === 'probabilities')!.shape).toEqual([2, 3]);
  });

  it('refuses bad v2 requests with {error}', async () => {
    const wrongType = await post(
      `${server.url}/v2/models/iris/infer`,
      JSON.stringify({ inputs: [{ name: 'X', shape: [1, 4], datatype: 'INT64', data: [1, 2, 3, 4] }] }),
    );
    expect(wrongType.status).toBe(400);
    expect(wrongType.json).toEqual({ error: expect.stringContaining('FP32') });
    const wrongCount = await post(
      `${server.url}/v2/models/iris/infer`,
      JSON.stringify({ inputs: [{ name: 'X', shape: [2, 4], datatype: 'FP32', data: [1, 2, 3, 4] }] }),
    );
    expect(wrongCount.status).toBe(400);
    expect((await fetch(`${server.url}/v2/models/other`)).status).toBe(404);
  });

  it('answers KServe v1 :predict with one prediction per instance', async () => {
    const res = await post(`${server.url}/v1/models/iris:predict`, JSON.stringify({ instances: ROWS }));
    expect(res.status).toBe(200);
    const { predictions } = res.json as { predictions: { label: number; probabilities: number[] }[] };
    expect(predictions.map((p) => p.label)).toEqual([0, 2]);
    expect(predictions[1]!.probabilities).toHaveLength(3);
    expect((await fetch(`${server.url}/v1/models/iris`)).status).toBe(200);
    expect((await post(`${server.url}/v1/models/iris:explain`, '{}')).status).toBe(404);
  });

  it('gives MLflow error bodies and codes for bad requests', async () => {
    const cases: [string, string, number, string | null][] = [
      ['{bad json', 'application/json', 400, 'BAD_REQUEST'],
      ['{"inputs": [[1, 2, 3]]}', 'application/json', 400, 'INVALID_PARAMETER_VALUE'],
      ['{"inputs": [["x", 1, 2, 3]]}', 'application/json', 400, 'BAD_REQUEST'],
      ['{"inputs": [[1, 2, 3, 4]]}', 'text/plain', 415, null],
      ['{"inputs": [[1, 2, 3, 4]]}', 'application/json; charset=latin-1', 415, null],
      ['{"inputs": [[1, 2, 3, 4]]}', 'application/json; format=pandas-split', 415, null],
    ];
    for (const [body, type, status, code] of cases) {
      const res = await post(`${server.url}/invocations`, body, type);
      expect([body, type, res.status]).toEqual([body, type, status]);
      if (code) expect(res.json).toEqual({ error_code: code, message: expect.any(String) });
    }
  });

  it('exports request, latency, in-flight and load-time metrics', async () => {
    const text = await (await fetch(`${server.url}/metrics`)).text();
    expect(text).toMatch(
      /modelctl_serve_http_requests_total\{route="\/invocations",method="POST",status="200",role="serve"\} \d+/,
    );
    expect(text).toMatch(/modelctl_serve_http_request_duration_seconds_bucket\{[^}]*route="\/invocations"/);
    expect(text).toContain('modelctl_serve_http_requests_in_flight');
    expect(text).toMatch(/modelctl_serve_model_load_seconds_count\{role="serve"\} 1/);
    expect(text).not.toMatch(/route="\/health\/(liveness|readiness)"/);
  });
});

describe('modelctl serve limits', () => {
  it('answers 413 over SERVE_MAX_BODY_MB and 504 over the scoring timeout, then keeps serving', async () => {
    const server = await startModelctlServe({
      MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'dense'),
      SERVE_MAX_BODY_MB: '1',
      MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT: '0.001',
      SERVE_MAX_CONCURRENCY: '1',
    });
    try {
      const big = JSON.stringify({
        inputs: Array.from({ length: 1200 }, () => Array.from({ length: 256 }, () => 1.5)),
      });
      expect(big.length).toBeGreaterThan(1024 * 1024);
      const tooLarge = await post(`${server.url}/invocations`, big);
      expect(tooLarge.status).toBe(413);
      expect(tooLarge.json).toEqual({ error_code: 'REQUEST_LIMIT_EXCEEDED', message: expect.any(String) });
      const slow = await post(
        `${server.url}/invocations`,
        JSON.stringify({ inputs: Array.from({ length: 700 }, () => Array.from({ length: 256 }, () => 0.5)) }),
      );
      expect([slow.status, slow.text.slice(0, 200)]).toEqual([504, expect.any(String)]);
      expect((await fetch(`${server.url}/health/readiness`)).status).toBe(200);
    } finally {
      await server.stop();
    }
  });

  it('loads a model whose weights sit in an external data file', async () => {
    const server = await startModelctlServe({ MODEL_LOCAL_PATH: path.join(FIXTURE_MODELS, 'mlp-external') });
    try {
      const res = await post(`${server.url}/invocations`, JSON.stringify({ inputs: ROWS }));
      expect(res.status).toBe(200);
      expect((res.json as { predictions: { label: number[] } }).predictions.label).toHaveLength(2);
    } finally {
      await server.stop();
    }
  });
});

describe('modelctl serve refusals at start-up', () => {
  async function refusal(env: Record<string, string>): Promise<{ code: number | string; lines: string[] }> {
    const proc = runModelctl(['serve'], { HOST: '127.0.0.1', PORT: '0', LOG_LEVEL: 'warn', ...env });
    const code = await proc.exited;
    return {
      code,
      lines: proc
        .output()
        .trim()
        .split('\n')
        .filter((l) => l.startsWith('modelctl serve:')),
    };
  }

  it('names a non-onnx flavor and says how to log the model with onnx (SERVE_RUNTIME=onnx)', async () => {
    const { code, lines } = await refusal({
      MODEL_LOCAL_PATH: path.join(FIXTURE_MODELS, 'sklearn-flavor'),
      SERVE_RUNTIME: 'onnx',
    });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/flavor sklearn cannot be served.*mlflow\.onnx\.log_model/);
  });

  it('refuses a ZipMap output and says to convert with zipmap=False', async () => {
    const { code, lines } = await refusal({ MODEL_LOCAL_PATH: path.join(FIXTURE_MODELS, 'iris-zipmap') });
    expect(code).toBe(1);
    expect(lines).toHaveLength(1);
    expect(lines[0]).toMatch(/not a tensor.*zipmap=False/);
  });

  it('refuses a folder without MLmodel, and a bad variable, naming it', async () => {
    const missing = await refusal({ MODEL_LOCAL_PATH: FIXTURE_MODELS });
    expect(missing.code).toBe(1);
    expect(missing.lines[0]).toMatch(/no MLmodel file in/);
    const badPort = await refusal({ MODEL_LOCAL_PATH: IRIS, PORT: 'eighty' });
    expect(badPort.code).toBe(1);
    expect(badPort.lines[0]).toMatch(/^modelctl serve: PORT: /);
    // serve downloads a models:/ URI itself (issue 15), and says where the tracking server is missing
    const remote = await refusal({ MLFLOW_MODEL_URI: 'models:/iris/1', MLFLOW_TRACKING_URI: '' });
    expect(remote.code).toBe(1);
    expect(remote.lines).toEqual(['modelctl serve: MLFLOW_TRACKING_URI: required for models: URIs']);
  });
});
