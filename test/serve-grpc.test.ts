import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status, type ServiceError } from '@grpc/grpc-js';
import path from 'node:path';
import { freePort } from '../testkit/peers/peer-run.js';
import { clientsPython, runOipClient, type ClientTensor } from '../testkit/peers/oip-clients.js';
import { inferenceServiceClient, type Unary } from '../testkit/grpc-inference-client.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

const IRIS_ROWS = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3, 5.9, 3.0, 4.2, 1.5];
const IRIS_INPUT: ClientTensor = { name: 'X', datatype: 'FP32', shape: [3, 4], data: IRIS_ROWS };

function call(
  client: Record<string, Unary>,
  method: string,
  request: unknown,
): Promise<{ err: ServiceError | null; res: unknown }> {
  return new Promise((resolve) => client[method]!(request, (err, res) => resolve({ err, res })));
}

describe('Open Inference Protocol v2 over gRPC', () => {
  let server: ModelctlProcess;
  let grpcTarget: string;
  let python: string;
  beforeAll(async () => {
    const grpcPort = await freePort();
    grpcTarget = `127.0.0.1:${grpcPort}`;
    [server, python] = await Promise.all([
      startModelctlServe({ MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris'), GRPC_PORT: String(grpcPort) }),
      clientsPython(),
    ]);
  }, 900_000);
  afterAll(async () => {
    await server.stop();
  });

  async function expectedOutputs(): Promise<ClientTensor[]> {
    const res = await fetch(`${server.url}/v2/models/iris/infer`, {
      method: 'POST',
      body: JSON.stringify({ inputs: [IRIS_INPUT] }),
    });
    return ((await res.json()) as { outputs: ClientTensor[] }).outputs;
  }

  it('answers tritonclient gRPC (raw_input_contents) as the HTTP route answers', async () => {
    const run = await runOipClient({
      python,
      client: 'triton-grpc',
      target: grpcTarget,
      model: 'iris',
      request: { inputs: [IRIS_INPUT], outputs: ['label', 'probabilities'] },
    });
    expect(run.live).toBe(true);
    expect(run.ready).toBe(true);
    expect(run.metadata).toMatchObject({ name: 'iris', platform: 'onnxruntime_onnx' });
    expect(run.binary).toEqual({ id: 'req-7', outputs: await expectedOutputs() });
    expect(run.all_outputs).toEqual(['label', 'probabilities']);
  });

  it('takes typed contents (fp32_contents) as well as raw bytes', async () => {
    const client = inferenceServiceClient(grpcTarget);
    try {
      const { err, res } = await call(client, 'ModelInfer', {
        model_name: 'iris',
        id: 'typed',
        inputs: [{ name: 'X', datatype: 'FP32', shape: [3, 4], contents: { fp32_contents: IRIS_ROWS } }],
      });
      expect(err).toBeNull();
      const response = res as {
        id: string;
        outputs: { name: string; shape: string[] }[];
        raw_output_contents: Buffer[];
      };
      expect(response.id).toBe('typed');
      expect(response.outputs.map((o) => [o.name, o.shape.map(Number)])).toEqual([
        ['label', [3]],
        ['probabilities', [3, 3]],
      ]);
      const [label, probabilities] = response.raw_output_contents;
      const expected = await expectedOutputs();
      expect(Array.from(new BigInt64Array(new Uint8Array(label!).buffer), Number)).toEqual(expected[0]!.data);
      expect(Array.from(new Float32Array(new Uint8Array(probabilities!).buffer))).toEqual(expected[1]!.data);
    } finally {
      client.close();
    }
  });

  it('answers bad calls with the matching status and a message, and keeps serving', async () => {
    const client = inferenceServiceClient(grpcTarget);
    const raw = Buffer.from(Float32Array.from(IRIS_ROWS).buffer);
    const cases: { what: string; request: unknown; code: number; details: RegExp }[] = [
      {
        what: 'an unknown model',
        request: { model_name: 'nope', inputs: [] },
        code: status.NOT_FOUND,
        details: /nope/,
      },
      {
        what: 'raw bytes that do not fit the shape',
        request: {
          model_name: 'iris',
          inputs: [{ name: 'X', datatype: 'FP32', shape: [3, 4] }],
          raw_input_contents: [raw.subarray(0, 40)],
        },
        code: status.INVALID_ARGUMENT,
        details: /needs 48/,
      },
      {
        what: 'more raw entries than inputs',
        request: {
          model_name: 'iris',
          inputs: [{ name: 'X', datatype: 'FP32', shape: [3, 4] }],
          raw_input_contents: [raw, raw],
        },
        code: status.INVALID_ARGUMENT,
        details: /2 entries for 1 inputs/,
      },
      {
        what: 'a wrong datatype',
        request: {
          model_name: 'iris',
          inputs: [{ name: 'X', datatype: 'FP64', shape: [3, 4], contents: { fp64_contents: IRIS_ROWS } }],
        },
        code: status.INVALID_ARGUMENT,
        details: /expects FP32/,
      },
      {
        what: 'a wrong shape',
        request: {
          model_name: 'iris',
          inputs: [{ name: 'X', datatype: 'FP32', shape: [4, 3] }],
          raw_input_contents: [raw],
        },
        code: status.INVALID_ARGUMENT,
        details: /expects \(-1, 4\)/,
      },
    ];
    try {
      for (const c of cases) {
        const { err } = await call(client, 'ModelInfer', c.request);
        expect({ what: c.what, code: err?.code }).toEqual({ what: c.what, code: c.code });
        expect(err?.details).toMatch(c.details);
      }
      const ok = await call(client, 'ModelInfer', {
        model_name: 'iris',
        inputs: [{ name: 'X', datatype: 'FP32', shape: [3, 4] }],
        raw_input_contents: [raw],
      });
      expect(ok.err).toBeNull();
      expect((await call(client, 'ServerReady', {})).res).toEqual({ ready: true });
      expect((await call(client, 'ModelReady', { name: 'iris' })).res).toEqual({ ready: true });
    } finally {
      client.close();
    }
  });
});

describe('ModelInfer deadline over gRPC', () => {
  it('ends a call past MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT with DEADLINE_EXCEEDED and stays ready', async () => {
    const grpcPort = await freePort();
    const server = await startModelctlServe({
      MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'dense'),
      GRPC_PORT: String(grpcPort),
      MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT: '0.001',
      SERVE_MAX_CONCURRENCY: '1',
    });
    const client = inferenceServiceClient(`127.0.0.1:${grpcPort}`, { 'grpc.max_send_message_length': -1 });
    try {
      const meta = (await (await fetch(`${server.url}/v2/models/dense`)).json()) as { inputs: { name: string }[] };
      const rows = (n: number) => ({
        model_name: 'dense',
        inputs: [{ name: meta.inputs[0]!.name, datatype: 'FP32', shape: [n, 256] }],
        raw_input_contents: [Buffer.from(new Float32Array(n * 256).fill(0.5).buffer)],
      });
      const slow = await call(client, 'ModelInfer', rows(700));
      expect([slow.err?.code, slow.err?.details]).toEqual([
        status.DEADLINE_EXCEEDED,
        'Request processing time exceeded limit',
      ]);
      expect((await call(client, 'ServerReady', {})).res).toEqual({ ready: true });
      // counted as such in /metrics (modelctl_serve_grpc_*), beside the ServerReady call
      const text = await (await fetch(`${server.url}/metrics`)).text();
      const count = (code: string) =>
        text
          .split('\n')
          .filter((l) => l.startsWith('modelctl_serve_grpc_requests_total{') && l.includes(`grpc_code="${code}"`))
          .map((l) => [/grpc_method="(\w+)"/.exec(l)![1], Number(l.split(' ').pop())]);
      expect([count('DEADLINE_EXCEEDED'), count('OK')]).toEqual([[['ModelInfer', 1]], [['ServerReady', 1]]]);
    } finally {
      client.close();
      await server.stop();
    }
  });
});
