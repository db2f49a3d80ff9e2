// Requests whose client went away before their answer (an HTTP connection closed, a gRPC call cancelled) leave the
// inference queue unrun: counted (499 / modelctl_serve_queue_dropped_total), logged at most at debug, never at
// error, also when serve is stopped with them queued.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import type { ClientUnaryCall, ServiceError } from '@grpc/grpc-js';
import path from 'node:path';
import { inferenceServiceClient, type InferenceServiceClient } from '../testkit/grpc-inference-client.js';
import { postLeftOpen } from '../testkit/invocations.js';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { freePort } from '../testkit/peers/peer-run.js';
import { metricSum, until } from '../testkit/metrics-scrape.js';
import { FIXTURE_MODELS } from './fixture-models.js';

const IRIS = path.join(EXAMPLE_MODELS, 'iris');
const ROW = JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] });
// long enough that a queued request waits for it (the model runs in microseconds), short enough for the test
const BATCH_DELAY_MS = 3000;

/** A ModelInfer call left open (cancelled later by the test). */
function inferOpen(client: InferenceServiceClient): ClientUnaryCall {
  const infer = client.ModelInfer.bind(client) as unknown as (
    req: unknown,
    cb: (err: ServiceError | null) => void,
  ) => ClientUnaryCall;
  return infer(
    {
      model_name: 'iris',
      inputs: [{ name: 'X', datatype: 'FP32', shape: [1, 4] }],
      raw_input_contents: [Buffer.from(new Float32Array([5.1, 3.5, 1.4, 0.2]).buffer)],
    },
    () => undefined,
  );
}

function errorLines(server: ModelctlProcess): string[] {
  return server
    .output()
    .split('\n')
    .filter((l) => l.startsWith('{') && (JSON.parse(l) as { level: number }).level >= 50);
}

describe('modelctl serve with requests whose clients went away while queued', () => {
  let server: ModelctlProcess;
  let grpc: InferenceServiceClient;
  const queued = () => metricSum(server.url, 'modelctl_serve_inference_queue_length');

  beforeAll(async () => {
    const grpcPort = await freePort();
    server = await startModelctlServe({
      MODEL_LOCAL_PATH: IRIS,
      GRPC_PORT: String(grpcPort),
      SERVE_MAX_CONCURRENCY: '1',
      SERVE_MAX_BATCH_DELAY_MS: String(BATCH_DELAY_MS),
      LOG_LEVEL: 'debug',
    });
    grpc = inferenceServiceClient(`127.0.0.1:${grpcPort}`);
    // the batcher takes one request alone until the model has told it request sizes; from then on a lone
    // request waits up to the batch delay for others
    expect((await fetch(`${server.url}/invocations`, { method: 'POST', body: ROW, headers: JSON_TYPE })).status).toBe(
      200,
    );
  });
  afterAll(async () => {
    grpc.close();
    await server.stop();
  });

  it('takes them out of the queue unrun, counts them, and runs only the request still waited for', async () => {
    const batchesBefore = await metricSum(server.url, 'modelctl_serve_batch_size_sum');
    const http = [
      postLeftOpen(server.url, '/invocations', ROW), // the predict fast path
      postLeftOpen(server.url, '/invocations', ROW, true), // chunked: the express route
      postLeftOpen(server.url, '/v2/models/iris/infer', ROW),
      postLeftOpen(server.url, '/v1/models/iris:predict', ROW, true),
    ];
    const calls = [inferOpen(grpc), inferOpen(grpc)];
    await until('6 queued requests', async () => (await queued()) === 6);
    for (const req of http) req.destroy();
    for (const call of calls) call.cancel();
    await until('an empty queue', async () => (await queued()) === 0, BATCH_DELAY_MS / 2);

    const kept = await fetch(`${server.url}/invocations`, { method: 'POST', body: ROW, headers: JSON_TYPE });
    expect(kept.status).toBe(200);
    // one batch of one request ran: the kept one; without the drop all 7 would have run together
    expect((await metricSum(server.url, 'modelctl_serve_batch_size_sum')) - batchesBefore).toBe(1);
    expect(await metricSum(server.url, 'modelctl_serve_queue_dropped_total', 'reason="CLIENT_CLOSED_REQUEST"')).toBe(6);
    expect(await metricSum(server.url, 'modelctl_serve_http_requests_total', 'status="499"')).toBe(4);
    expect(errorLines(server)).toEqual([]);
  });

  it('logs no error when stopped with such requests queued, and exits 0', async () => {
    const http = [postLeftOpen(server.url, '/invocations', ROW), postLeftOpen(server.url, '/invocations', ROW, true)];
    const calls = [inferOpen(grpc)];
    await until('3 queued requests', async () => (await queued()) === 3);
    for (const req of http) req.destroy();
    for (const call of calls) call.cancel();
    await until('an empty queue', async () => (await queued()) === 0, BATCH_DELAY_MS / 2);
    expect(await server.stop()).toBe(0);
    expect(errorLines(server)).toEqual([]);
  });
});

const JSON_TYPE = { 'Content-Type': 'application/json' };

describe('modelctl serve stopped under load whose clients went away', () => {
  it('lets the batches running end (a thread ended inside onnxruntime aborted the process), logs no error, exits 0', async () => {
    const body = JSON.stringify({ inputs: Array.from({ length: 600 }, () => Array.from({ length: 256 }, () => 0.5)) });
    const failed: string[] = [];
    for (const batchSize of ['1', '128', '1']) {
      const server = await startModelctlServe({
        MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'dense'),
        SERVE_MAX_CONCURRENCY: '2',
        SERVE_MAX_BATCH_SIZE: batchSize,
        LOG_LEVEL: 'debug',
      });
      const requests = Array.from({ length: 40 }, () => postLeftOpen(server.url, '/invocations', body));
      // the threads busy with the first batches, the rest queued
      await until('a queue', async () => (await metricSum(server.url, 'modelctl_serve_inference_queue_length')) > 0);
      for (const req of requests) req.destroy();
      const exit = await server.stop();
      if (exit !== 0 || errorLines(server).length > 0)
        failed.push(`SERVE_MAX_BATCH_SIZE ${batchSize}: exit ${String(exit)}\n${server.output().slice(-3000)}`);
    }
    expect(failed).toEqual([]);
  }, 120_000);
});

describe('modelctl serve with a request handed ahead to the busy thread whose deadline passed', () => {
  it('does not run it: 504 and dropped as DEADLINE_EXCEEDED', async () => {
    // as above; a large request takes more than twice the deadline of model run (~1.2 s on an idle 2-core machine),
    // so the one handed ahead behind another reaches its deadline before the thread could start it
    const server = await startModelctlServe({
      MODEL_LOCAL_PATH: path.join(FIXTURE_MODELS, 'heavy'),
      SERVE_MAX_CONCURRENCY: '1',
      SERVE_MAX_BATCH_SIZE: '32',
      MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT: '0.5',
    });
    try {
      const rows = (n: number) => JSON.stringify({ inputs: Array.from({ length: n }, (_v, i) => [i, 1, 2, 3]) });
      const post = (body: string) => fetch(`${server.url}/invocations`, { method: 'POST', body, headers: JSON_TYPE });
      const dropped = () => metricSum(server.url, 'modelctl_serve_queue_dropped_total', 'reason="DEADLINE_EXCEEDED"');
      expect((await post(rows(1024))).status).toBe(200);

      // the thread is free again once a 1024-row request (~0.1 s of run) is answered 200 (one sent while the thread
      // still runs times out uncomputed, as the one ahead): the time from a large request's send to then is its run.
      // 1024 rows, not fewer: the batcher keeps seeing requests that fill a batch, which are handed ahead
      const untilFree = async (sentAt: number) => {
        await until('a request answered 200', async () => (await post(rows(1024))).status === 200, 30_000);
        return performance.now() - sentAt;
      };
      let sentAt = performance.now();
      expect((await post(rows(16384))).status).toBe(504);
      const oneRunMs = await untilFree(sentAt);

      const droppedBefore = await dropped();
      sentAt = performance.now();
      const running = post(rows(16384));
      await new Promise((r) => setTimeout(r, 100)); // dispatched alone (sent together, both could share a batch)
      const ahead = post(rows(16384));
      // both are answered 504 at their deadline; the running one is still computed, the one ahead is not
      expect((await ahead).status).toBe(504);
      expect((await running).status).toBe(504);
      expect((await dropped()) - droppedBefore).toBe(1);
      const bothMs = await untilFree(sentAt);
      // one model run, not two (the one ahead would double it)
      expect(bothMs).toBeLessThan(oneRunMs * 1.5);
    } finally {
      await server.stop();
    }
  }, 60_000);
});

describe('modelctl serve with a request handed ahead to the busy thread whose client went away', () => {
  it('does not run it: dropped and counted as from the queue, and the next request waits for one batch only', async () => {
    // one thread, requests larger than SERVE_MAX_BATCH_SIZE: each is a full batch, so while the thread runs one the
    // next is handed ahead to wait in the thread itself (adaptive-batcher.ts aheadSlots)
    const server = await startModelctlServe({
      MODEL_LOCAL_PATH: path.join(FIXTURE_MODELS, 'heavy'),
      SERVE_MAX_CONCURRENCY: '1',
      SERVE_MAX_BATCH_SIZE: '32',
    });
    try {
      const rows = (n: number) => JSON.stringify({ inputs: Array.from({ length: n }, (_v, i) => [i, 1, 2, 3]) });
      const post = (body: string) => fetch(`${server.url}/invocations`, { method: 'POST', body, headers: JSON_TYPE });
      const queued = () => metricSum(server.url, 'modelctl_serve_inference_queue_length');
      const batches = () => metricSum(server.url, 'modelctl_serve_batch_size_count');
      const dropped = () =>
        metricSum(server.url, 'modelctl_serve_queue_dropped_total', 'reason="CLIENT_CLOSED_REQUEST"');
      // the batcher learns the requests' size (rows): from now on one request fills a batch
      expect((await post(rows(1024))).status).toBe(200);
      const [batchesBefore, droppedBefore] = [await batches(), await dropped()];

      const sentAt = performance.now();
      // ~1.3 s of model run on an idle 2-core machine: the time the test has to see the second request wait ahead and
      // end its connection before the thread starts it (4096 rows, ~0.3 s, lost that race once in CI)
      const running = post(rows(16384));
      const gone = postLeftOpen(server.url, '/invocations', rows(16384));
      // it waits in the thread (handed ahead), counted as queued until the thread starts it
      await until('the request handed ahead', async () => (await queued()) === 1);
      gone.destroy();
      await until('its drop', async () => (await dropped()) - droppedBefore === 1);
      expect(await queued()).toBe(0);
      expect((await running).status).toBe(200);
      const runMs = performance.now() - sentAt;
      const lastAt = performance.now();
      expect((await post(rows(1))).status).toBe(200);
      // the last one waited for no model run of ~runMs in the thread: the one whose client left did not run
      expect(performance.now() - lastAt).toBeLessThan(runMs / 2);
      expect((await batches()) - batchesBefore).toBe(2);
      expect((await dropped()) - droppedBefore).toBe(1);
      expect(errorLines(server)).toEqual([]);
    } finally {
      await server.stop();
    }
  }, 60_000);
});
