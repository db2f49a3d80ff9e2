import { credentials, loadPackageDefinition, type Client, type ServiceError } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import path from 'node:path';
import { REPO_ROOT } from './modelctl-process.js';

/** A unary call of a grpc-js client made from a loaded definition. */
export type Unary = (request: unknown, callback: (err: ServiceError | null, response: unknown) => void) => void;

/** The service's calls by name; ModelInfer is always there. */
export type InferenceServiceClient = Client & { ModelInfer: Unary } & Record<string, Unary>;

/**
 * A grpc-js client of `inference.GRPCInferenceService` on `target` (host:port), from the same service definition the
 * server loads (functions/serve/grpc/grpc_predict_v2.proto), for the tests and the gRPC load generator.
 */
export function inferenceServiceClient(target: string, options: Record<string, number> = {}): InferenceServiceClient {
  const definition = loadSync(path.join(REPO_ROOT, 'functions', 'serve', 'grpc', 'grpc_predict_v2.proto'), {
    keepCase: true,
    longs: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = loadPackageDefinition(definition) as unknown as {
    inference: {
      GRPCInferenceService: new (
        target: string,
        creds: ReturnType<typeof credentials.createInsecure>,
        options: Record<string, number>,
      ) => Client;
    };
  };
  return new pkg.inference.GRPCInferenceService(
    target,
    credentials.createInsecure(),
    options,
  ) as InferenceServiceClient;
}
