import { Server, ServerCredentials, status, type ServiceError, type sendUnaryData } from '@grpc/grpc-js';
import { loadSync } from '@grpc/proto-loader';
import { fileURLToPath } from 'node:url';
import type { Registry } from 'prom-client';
import { AppError, isAppError } from '../../../shared/errors/app-error.js';
import { clientClosedRequest } from '../client-closed.js';
import type { Logger } from '../../../shared/log/create-logger.js';
import type { ServedModel } from '../load-served-model.js';
import { V2_TYPES } from '../oip-v2-types.js';
import type { ScoringAnswer } from '../scoring.js';
import { createGrpcCallMetrics, trackCall, type TrackedCall } from './call-metrics.js';
import { inferRequestBody, inferResponseMessage, type ModelInferRequest } from './model-infer-messages.js';

/** Beside this module in the sources (tests) and in dist/bundle/ (scripts/bundle.js copies it next to the chunks). */
const PROTO = fileURLToPath(new URL('./grpc_predict_v2.proto', import.meta.url));
const SERVICE = 'inference.GRPCInferenceService';

export interface RunningGrpcServer {
  port: number;
  /** stops taking calls, lets running ones finish, then closes */
  close: () => Promise<void>;
}

/**
 * Open Inference Protocol v2 over gRPC (`inference.GRPCInferenceService`) on a port of its own, for the same model:
 * ModelInfer goes through the same queue, adaptive batching and inference threads as the HTTP routes (its tensors
 * travel as the binary extension's raw bytes), under the same deadline.
 */
export async function startGrpcServer(params: {
  port: number;
  host: string;
  /** the model, or null while it loads (readiness false, ModelInfer UNAVAILABLE) */
  model: () => ServedModel | null;
  /** the largest request message, in bytes (SERVE_MAX_BODY_MB) */
  maxMessageBytes: number;
  /** MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT in ms: longer calls end DEADLINE_EXCEEDED */
  requestTimeoutMs: number;
  version: string;
  log: Logger;
  /** serve's metrics registry (the HTTP side's /metrics): every call counted and timed there (call-metrics.ts) */
  registry: Registry;
  /** the level of a call's access log line; serve's HTTP routes log theirs at debug @default 'debug' */
  accessLogLevel?: 'info' | 'debug';
}): Promise<RunningGrpcServer> {
  const definition = loadSync(PROTO, { keepCase: true, longs: String, enums: String, defaults: true, oneofs: true });
  const service = (definition[SERVICE] ?? null) as Parameters<Server['addService']>[0] | null;
  if (!service) throw new Error(`${PROTO} has no inference.GRPCInferenceService`);
  const server = new Server({
    'grpc.max_receive_message_length': params.maxMessageBytes,
    'grpc.max_send_message_length': -1,
  });
  const named = (name: string): ServedModel | null => {
    const model = params.model();
    return model && model.name === name ? model : null;
  };
  const tracking = {
    metrics: createGrpcCallMetrics({ registry: params.registry, role: 'serve' }),
    log: params.log,
    level: params.accessLogLevel ?? 'debug',
    service: SERVICE,
  };
  const unary = <Req, Res>(
    method: string,
    handle: (request: Req, signal: AbortSignal) => Res | Promise<Res>,
  ): [string, UnaryHandler<Req, Res>] => [method, unaryHandler({ ...tracking, method }, handle)];
  server.addService(
    service,
    Object.fromEntries([
      unary('ServerLive', () => ({ live: true })),
      unary('ServerReady', () => ({ ready: params.model() !== null })),
      unary('ModelReady', (req: { name: string }) => ({ ready: named(req.name) !== null })),
      unary('ServerMetadata', () => ({
        name: 'modelctl',
        version: params.version,
        extensions: ['binary_tensor_data'],
      })),
      unary('ModelMetadata', (req: { name: string }) => metadataOf(required(named(req.name), req.name))),
      unary('ModelInfer', (req: ModelInferRequest, signal) =>
        infer(required(named(req.model_name), req.model_name), req, signal, params.requestTimeoutMs),
      ),
    ]),
  );
  const port = await new Promise<number>((resolve, reject) =>
    server.bindAsync(`${params.host}:${params.port}`, ServerCredentials.createInsecure(), (err, bound) =>
      err ? reject(err) : resolve(bound),
    ),
  );
  params.log.info({ port }, 'gRPC listening (inference.GRPCInferenceService)');
  return {
    port,
    close: () => new Promise<void>((resolve) => server.tryShutdown(() => resolve())),
  };
}

type UnaryHandler<Req, Res> = (call: { request: Req } & TrackedCall, callback: sendUnaryData<Res>) => void;

/**
 * A unary handler from an (async) function; errors become gRPC statuses. Every call is counted, timed and logged
 * (trackCall), its code the one its answer carries, or CANCELLED / DEADLINE_EXCEEDED when the client ended it first.
 */
function unaryHandler<Req, Res>(
  tracking: Parameters<typeof trackCall>[1],
  handle: (request: Req, signal: AbortSignal) => Res | Promise<Res>,
): UnaryHandler<Req, Res> {
  return (call, callback) => {
    const ended = trackCall(call, tracking);
    const controller = new AbortController();
    call.on('cancelled', () => controller.abort(new Error('the client cancelled the call')));
    Promise.resolve()
      .then(() => handle(call.request, controller.signal))
      .then(
        (response) => {
          callback(null, response);
          ended(status.OK);
        },
        (err: unknown) => {
          const answer = grpcError(err);
          callback(answer);
          ended(answer.code!);
        },
      );
  };
}

function required(model: ServedModel | null, name: string): ServedModel {
  if (!model) throw Object.assign(new Error(`Model ${name} not found or not ready`), { grpcCode: status.NOT_FOUND });
  return model;
}

async function infer(model: ServedModel, request: ModelInferRequest, cancelled: AbortSignal, timeoutMs: number) {
  const { body, headerLength } = inferRequestBody(request);
  // one timer per call, cleared when the call ends: AbortSignal.timeout + AbortSignal.any per call kept every
  // call's signals and timer alive until its deadline (60 s by default), thousands of them under load
  const controller = new AbortController();
  const timer = setTimeout(() => controller.abort(deadlineExceeded()), timeoutMs);
  // a call still queued leaves the queue (counted as CLIENT_CLOSED_REQUEST, as an HTTP client that went away)
  const onCancel = () => controller.abort(Object.assign(clientClosedRequest(), { grpcCode: status.CANCELLED }));
  cancelled.addEventListener('abort', onCancel, { once: true });
  const { signal } = controller;
  try {
    const answer: ScoringAnswer = await new Promise((resolve, reject) => {
      signal.addEventListener('abort', () => reject(signal.reason as Error), { once: true });
      model.score({ protocol: 'oip-v2', body, headerLength }, { signal }).then(resolve, reject);
    });
    return inferResponseMessage(answer, request.model_version);
  } finally {
    clearTimeout(timer);
    cancelled.removeEventListener('abort', onCancel);
  }
}

function deadlineExceeded(): Error {
  const err = new AppError({
    code: 'DEADLINE_EXCEEDED',
    statusCode: 504,
    message: 'Request processing time exceeded limit',
  });
  return Object.assign(err, { grpcCode: status.DEADLINE_EXCEEDED });
}

function metadataOf(model: ServedModel) {
  const tensor = (t: ServedModel['io']['inputs'][number]) => ({
    name: t.name,
    datatype: V2_TYPES[t.type],
    shape: t.shape.map(String),
  });
  return {
    name: model.name,
    versions: [],
    platform: model.runtime === 'onnx' ? 'onnxruntime_onnx' : 'mlflow_pyfunc',
    inputs: model.io.inputs.map(tensor),
    outputs: model.io.outputs.map(tensor),
  };
}

/** HTTP statuses of AppErrors as gRPC codes; anything else is INTERNAL with nothing internal said. */
function grpcError(err: unknown): Partial<ServiceError> {
  const own = (err as { grpcCode?: number }).grpcCode;
  if (own !== undefined) return { code: own, details: (err as Error).message };
  if (!isAppError(err)) return { code: status.INTERNAL, details: 'Internal error' };
  const byStatus: Record<number, number> = {
    400: status.INVALID_ARGUMENT,
    404: status.NOT_FOUND,
    413: status.RESOURCE_EXHAUSTED,
    503: status.UNAVAILABLE,
    504: status.DEADLINE_EXCEEDED,
  };
  const code = byStatus[err.statusCode] ?? (err.statusCode < 500 ? status.INVALID_ARGUMENT : status.INTERNAL);
  return { code, details: code === status.INTERNAL ? 'Internal error' : err.message };
}
