// A gRPC load generator for bench/serving.ts (autocannon speaks HTTP/1.1 only): `connections` calls of one
// ModelInfer message kept in flight on one HTTP/2 session for `seconds`, as autocannon keeps requests in flight
// on its connections. Latencies at 0.01 ms resolution; errors are calls that did not end with grpc-status 0.
// Like autocannon, which writes one prepared request and reads no body, the calls send the message encoded once, in
// gRPC's framing over node:http2, and leave the answers' bytes undecoded: a grpc-js client (protobufjs encoding
// and decoding, its call machinery) cost this process 2-3 times the CPU per call, taken from the server under test
// on the same cores. bench/serving.ts checks one full, decoded answer per target (grpc-js) before it loads it.
import { loadSync } from '@grpc/proto-loader';
import http2 from 'node:http2';
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

/**
 * ModelInfer calls over one HTTP/2 session (node:http2, gRPC's framing by hand: a 5-byte prefix, then the message):
 * each sends `encoded` as it is and ends OK when the server's trailers say grpc-status 0. A grpc-js client spent
 * about 1.5 ms of this process' CPU per 128 KiB call even with the message encoded once; this, 0.6-0.8 ms.
 */
function preparedModelInfer(target: string, encoded: Buffer) {
  const session = http2.connect(`http://${target}`, { settings: { initialWindowSize: 16 * 1024 * 1024 } });
  session.on('error', () => undefined); // each call fails on its own
  const prefix = Buffer.alloc(5);
  prefix.writeUInt32BE(encoded.byteLength, 1);
  const frame = Buffer.concat([prefix, encoded]);
  const headers = {
    ':method': 'POST',
    ':path': MODEL_INFER,
    'content-type': 'application/grpc',
    te: 'trailers',
  };
  return {
    infer: () =>
      new Promise<void>((resolve, reject) => {
        const stream = session.request(headers);
        let status: string | undefined;
        stream.on('response', (h) => (status ??= h['grpc-status'] as string | undefined)); // trailers-only answers
        stream.on('trailers', (t) => (status = t['grpc-status'] as string | undefined));
        stream.on('data', () => undefined); // the answer's bytes, undecoded
        stream.on('error', reject);
        stream.on('close', () => (status === '0' ? resolve() : reject(new Error(`grpc-status ${status ?? 'none'}`))));
        stream.end(frame);
      }),
    close: () => session.close(),
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
