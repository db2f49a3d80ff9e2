// A gRPC load generator for bench/serving.ts (autocannon speaks HTTP/1.1 only): `connections` calls of one
// ModelInfer message kept in flight on one HTTP/2 channel for `seconds`, as autocannon keeps requests in flight
// on its connections. Latencies at 0.01 ms resolution; errors are calls that did not end OK.
import { inferenceServiceClient } from '../testkit/grpc-inference-client.js';

/** A ModelInfer client on `target` (host:port) from the server's own service definition. */
export function modelInferClient(target: string): { infer: (request: unknown) => Promise<unknown>; close: () => void } {
  const client = inferenceServiceClient(target, {
    'grpc.max_receive_message_length': -1,
    'grpc.max_send_message_length': -1,
  });
  return {
    infer: (request) =>
      new Promise((resolve, reject) => client.ModelInfer(request, (err, res) => (err ? reject(err) : resolve(res)))),
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
  const client = modelInferClient(params.target);
  const latencies: number[] = [];
  let errors = 0;
  const started = performance.now();
  const until = started + params.seconds * 1000;
  const loop = async () => {
    while (performance.now() < until) {
      const t = performance.now();
      try {
        await client.infer(params.request);
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
