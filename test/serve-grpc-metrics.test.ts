// gRPC calls are observable as HTTP requests are: counted and timed by method and code in /metrics
// (modelctl_serve_grpc_*), in flight while they run, CANCELLED when the client leaves (HTTP's 499),
// DEADLINE_EXCEEDED when its deadline passes, and one access log line each (RPC name and code, no tensors).
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { status, type ClientUnaryCall, type ServiceError } from '@grpc/grpc-js';
import path from 'node:path';
import { inferenceServiceClient, type InferenceServiceClient } from '../testkit/grpc-inference-client.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { freePort } from '../testkit/peers/peer-run.js';
import { metricSum, until } from '../testkit/metrics-scrape.js';

const SERVICE = 'inference.GRPCInferenceService';
// a lone request waits this long in the batcher for others (once the model told it request sizes): long enough to
// cancel a call while it is queued, or to let a client deadline pass
const BATCH_DELAY_MS = 2000;
const ROWS = [5.1, 3.5, 1.4, 0.2];
const INFER = {
  model_name: 'iris',
  inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 4] }],
  raw_input_contents: [Buffer.from(new Float32Array(ROWS).buffer)],
};

type Callback = (err: ServiceError | null, res?: unknown) => void;

/** A call of `method`; resolves with its error (null: answered). */
function call(
  client: InferenceServiceClient,
  method: string,
  request: unknown,
  options: { deadline?: number } = {},
): { done: Promise<ServiceError | null>; call: ClientUnaryCall } {
  let handle!: ClientUnaryCall;
  const done = new Promise<ServiceError | null>((resolve) => {
    const fn = client[method]!.bind(client) as unknown as (
      req: unknown,
      opts: { deadline?: number },
      cb: Callback,
    ) => ClientUnaryCall;
    handle = fn(request, options, (err) => resolve(err));
  });
  return { done, call: handle };
}

interface AccessLine {
  msg: string;
  level: string;
  method: string;
  path: string;
  status: string | number;
  ms: number;
  [key: string]: unknown;
}

/** serve's access log lines (msg "request"), HTTP's and gRPC's. */
function accessLines(server: ModelctlProcess): AccessLine[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as AccessLine)
    .filter((l) => l.msg === 'request');
}

function grpcAccessLines(server: ModelctlProcess): AccessLine[] {
  return accessLines(server).filter((l) => l.path.startsWith(`/${SERVICE}/`));
}

describe('modelctl serve: gRPC calls in /metrics and the access log', () => {
  let server: ModelctlProcess;
  let client: InferenceServiceClient;
  const grpcCount = (method: string, code: string) =>
    metricSum(server.url, 'modelctl_serve_grpc_requests_total', `grpc_method="${method}"`, `grpc_code="${code}"`);
  const grpcTimed = (method: string, code: string, what: 'count' | 'sum') =>
    metricSum(
      server.url,
      `modelctl_serve_grpc_request_duration_seconds_${what}`,
      `grpc_method="${method}"`,
      `grpc_code="${code}"`,
    );

  beforeAll(async () => {
    const grpcPort = await freePort();
    server = await startModelctlServe({
      MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris'),
      GRPC_PORT: String(grpcPort),
      SERVE_MAX_CONCURRENCY: '1',
      SERVE_MAX_BATCH_DELAY_MS: String(BATCH_DELAY_MS),
      LOG_LEVEL: 'debug',
    });
    client = inferenceServiceClient(`127.0.0.1:${grpcPort}`);
  });
  afterAll(async () => {
    client.close();
    await server.stop();
  });

  it('counts, times and logs every call by method and code: answered, refused, cancelled, past its deadline', async () => {
    // the service's other calls, one each, and one refused
    for (const [method, request] of [
      ['ServerLive', {}],
      ['ServerReady', {}],
      ['ModelReady', { name: 'iris' }],
      ['ServerMetadata', {}],
      ['ModelMetadata', { name: 'iris' }],
    ] as const)
      expect(await call(client, method, request).done).toBeNull();
    expect((await call(client, 'ModelMetadata', { name: 'nope' }).done)?.code).toBe(status.NOT_FOUND);
    // answered: the first alone, the next two batched together (the batcher now waits for others)
    expect(await call(client, 'ModelInfer', INFER).done).toBeNull();
    expect(await Promise.all([call(client, 'ModelInfer', INFER).done, call(client, 'ModelInfer', INFER).done])).toEqual(
      [null, null],
    );
    // refused: an unknown model, a malformed tensor
    expect((await call(client, 'ModelInfer', { ...INFER, model_name: 'nope' }).done)?.code).toBe(status.NOT_FOUND);
    const malformed = { ...INFER, raw_input_contents: [Buffer.alloc(10)] };
    expect((await call(client, 'ModelInfer', malformed).done)?.code).toBe(status.INVALID_ARGUMENT);

    // cancelled by the client while queued: in flight until then, then CANCELLED (and dropped from the queue)
    const droppedBefore = await metricSum(server.url, 'modelctl_serve_queue_dropped_total', 'CLIENT_CLOSED_REQUEST');
    const open = call(client, 'ModelInfer', INFER);
    await until(
      'a queued call',
      async () => (await metricSum(server.url, 'modelctl_serve_inference_queue_length')) === 1,
    );
    expect(await metricSum(server.url, 'modelctl_serve_grpc_requests_in_flight')).toBe(1);
    open.call.cancel();
    expect((await open.done)?.code).toBe(status.CANCELLED);
    await until('the cancelled call counted', async () => (await grpcCount('ModelInfer', 'CANCELLED')) === 1);
    expect(await metricSum(server.url, 'modelctl_serve_grpc_requests_in_flight')).toBe(0);
    expect(await metricSum(server.url, 'modelctl_serve_queue_dropped_total', 'CLIENT_CLOSED_REQUEST')).toBe(
      droppedBefore + 1,
    );

    // the client's deadline (grpc-timeout) passes while the call waits in the batcher: DEADLINE_EXCEEDED
    const late = call(client, 'ModelInfer', INFER, { deadline: Date.now() + 300 });
    expect((await late.done)?.code).toBe(status.DEADLINE_EXCEEDED);
    await until('the late call counted', async () => (await grpcCount('ModelInfer', 'DEADLINE_EXCEEDED')) === 1);

    const expected: [string, string, number][] = [
      ['ServerLive', 'OK', 1],
      ['ServerReady', 'OK', 1],
      ['ModelReady', 'OK', 1],
      ['ServerMetadata', 'OK', 1],
      ['ModelMetadata', 'OK', 1],
      ['ModelMetadata', 'NOT_FOUND', 1],
      ['ModelInfer', 'OK', 3],
      ['ModelInfer', 'NOT_FOUND', 1],
      ['ModelInfer', 'INVALID_ARGUMENT', 1],
      ['ModelInfer', 'CANCELLED', 1],
      ['ModelInfer', 'DEADLINE_EXCEEDED', 1],
    ];
    const counted = await Promise.all(
      expected.map(async ([m, c]) => [m, c, await grpcCount(m, c), await grpcTimed(m, c, 'count')]),
    );
    expect(counted).toEqual(expected.map(([m, c, n]) => [m, c, n, n]));
    // nothing else: every call above counted once, under the service's name
    expect(await metricSum(server.url, 'modelctl_serve_grpc_requests_total')).toBe(13);
    expect(await metricSum(server.url, 'modelctl_serve_grpc_requests_total', `grpc_service="${SERVICE}"`)).toBe(13);
    // timed to their end: the batched calls waited for the batch delay, the late one for its deadline
    expect(await grpcTimed('ModelInfer', 'OK', 'sum')).toBeGreaterThan(BATCH_DELAY_MS / 1000);
    expect(await grpcTimed('ModelInfer', 'DEADLINE_EXCEEDED', 'sum')).toBeGreaterThanOrEqual(0.2);
    // the HTTP families count HTTP only (their labels unchanged): nothing of gRPC there
    expect((await fetch(`${server.url}/v2/models/iris`)).status).toBe(200);
    const text = await fetch(`${server.url}/metrics`).then((r) => r.text());
    expect(text).toMatch(/^modelctl_serve_http_requests_total\{route="[^"]+",method="GET",status="200"/m);
    expect(text).toContain('modelctl_serve_grpc_requests_in_flight{role="serve"} 0');
    expect(text).not.toMatch(/^modelctl_serve_http_[a-z_]+\{[^}]*(GRPC|Model|Server)/m);

    // one access log line per call, at debug as HTTP's, with the RPC's name and code and nothing of its messages
    // (written asynchronously: waited for, the GET's line too)
    const httpLineOf = () => accessLines(server).find((l) => l.path === '/v2/models/iris');
    await until('the access log lines', () =>
      Promise.resolve(grpcAccessLines(server).length === 13 && httpLineOf() !== undefined),
    );
    const lines = grpcAccessLines(server);
    const tally = new Map<string, number>();
    for (const l of lines) tally.set(`${l.method} ${l.status}`, (tally.get(`${l.method} ${l.status}`) ?? 0) + 1);
    expect(Object.fromEntries(tally)).toEqual(Object.fromEntries(expected.map(([m, c, n]) => [`${m} ${c}`, n])));
    // as HTTP's line (the GET above): same level, same fields
    const httpLine = httpLineOf()!;
    expect(httpLine).toMatchObject({ method: 'GET', status: 200 });
    for (const l of lines) {
      expect(l.path).toBe(`/${SERVICE}/${l.method}`);
      expect(typeof l.ms).toBe('number');
      expect([l.level, Object.keys(l).sort()]).toEqual([httpLine.level, Object.keys(httpLine).sort()]);
    }
    expect(httpLine.level).toBe('debug');
  }, 60_000);
});
