// A gRPC load generator for bench/serving.ts (autocannon speaks HTTP/1.1 only): `connections` calls of one
// ModelInfer message kept in flight on one HTTP/2 channel for `seconds`, as autocannon keeps requests in flight
// on its connections. Latencies at 0.01 ms resolution; errors are calls that did not end OK.
// Like autocannon, which sends one prepared request and reads no body, the load calls send the message encoded
// once and leave the answers' bytes undecoded: protobufjs encoding a 128 KiB request and decoding its answer cost
// this process several times the CPU autocannon spends per request, taken from the server under test on the
// same cores. bench/serving.ts checks one full, decoded answer per target before it loads it.
import { Client, credentials, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import path from 'node:path';
import { inferenceServiceClient } from '../testkit/grpc-inference-client.js';
import { REPO_ROOT } from '../testkit/modelctl-process.js';

const MODEL_INFER = '/inference.GRPCInferenceService/ModelInfer';
const CHANNEL_OPTIONS = { 'grpc.max_receive_message_length': -1, 'grpc.max_send_message_length': -1 };

/** A ModelInfer client on `target` (host:port) from the server's own service definition. */
export function modelInferClient(target: string): { infer: (request: unknown) => Promise<unknown>; close: () => void } {
  const client = inferenceServiceClient(target, CHANNEL_OPTIONS);
  return {
    infer: (request) =>
      new Promise((resolve, reject) => client.ModelInfer(request, (err, res) => (err ? reject(err) : resolve(res)))),
    close: () => client.close(),
  };
}

/** The ModelInfer request as protobuf bytes, encoded by the server's own service definition. */
function encodeModelInfer(request: unknown): Buffer {
  const definition = loadSync(path.join(REPO_ROOT, 'functions', 'serve', 'grpc', 'grpc_predict_v2.proto'), {
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const service = definition['inference.GRPCInferenceService'] as Record<
    string,
    { requestSerialize: (value: unknown) => Buffer }
  >;
  return service['ModelInfer']!.requestSerialize(request);
}

/** ModelInfer calls that send `encoded` as it is and answer the response's bytes undecoded. */
function preparedModelInfer(target: string, encoded: Buffer) {
  const client = new Client(target, credentials.createInsecure(), CHANNEL_OPTIONS);
  const same = (bytes: Buffer): Buffer => bytes;
  return {
    infer: () =>
      new Promise<Buffer>((resolve, reject) =>
        client.makeUnaryRequest(MODEL_INFER, same, same, encoded, (err: ServiceError | null, res?: Buffer) =>
          err || !res ? reject(err ?? new Error('no answer')) : resolve(res),
        ),
      ),
    close: () => client.close(),
  };
}

/** What autocannon reports, in the fields bench/serving.ts reads. */
export interface GrpcLoadResult {
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  requests: number;
  duration: number;
}

/** Keeps `connections` ModelInfer calls in flight for `seconds`. */
export async function grpcLoad(params: {
  target: string;
  request: unknown;
  connections: number;
  seconds: number;
}): Promise<GrpcLoadResult> {
  const client = preparedModelInfer(params.target, encodeModelInfer(params.request));
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + params.seconds * 1000;
  const loop = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      try {
        await client.infer();
        latencies.push(performance.now() - t);
      } catch {
        errors++;
      }
    }
  };
  try {
    await Promise.all(Array.from({ length: params.connections }, loop));
  } finally {
    client.close();
  }
  const duration = (performance.now() - started) / 1000;
  latencies.sort((a, b) => a - b);
  const pick = (p: number) =>
    latencies[Math.min(latencies.length - 1, Math.ceil((p / 100) * latencies.length) - 1)] ?? NaN;
  const round = (x: number) => Math.round(x * 100) / 100;
  return {
    rps: latencies.length / duration,
    p50_ms: round(pick(50)),
    p99_ms: round(pick(99)),
    errors,
    requests: latencies.length + errors,
    duration,
  };
}
