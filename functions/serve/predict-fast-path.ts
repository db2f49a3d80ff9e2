import type { IncomingMessage, RequestListener, ServerResponse } from 'node:http';
import type { HttpErrorPolicy } from '../../shared/http/http-error-handler.js';
import { answerHttpError } from '../../shared/http/http-error-handler.js';
import { trackRequest, type RequestMetrics } from '../../shared/http/request-metrics.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { ServedModel } from './load-served-model.js';
import { contentTypeVerdict } from './mlflow-content-type.js';
import { inferenceHeaderLength } from './inference-header-length.js';
import type { ScoringAnswer, ScoringTask } from './scoring.js';

/** One predict route the fast path answers: its express route pattern (the metrics label) and its task. */
interface FastRoute {
  label: string;
  /**
   * The scoring task of a request whose body is read, or the text of a 415 (MLflow's content-type rules).
   * @throws AppError a refusal, as the express route throws it
   */
  task: (req: IncomingMessage, body: Uint8Array) => ScoringTask | { unsupportedType: string };
}

export interface PredictFastPath {
  /** the server's request listener: the predict routes here, everything else to `fallback` */
  handler: RequestListener;
  /** the model is loaded: its predict routes go through the fast path from now on */
  setModel: (model: ServedModel) => void;
}

/**
 * The hot predict routes (`POST /invocations`, `/v2/models/<name>/infer`, `/v1/models/<name>:predict`) on plain
 * node:http, in front of the express app, which keeps every other request. Why: under many connections of small
 * requests the main thread is serve's saturated thread, and express's per-request work (router, prototype swaps,
 * body-parser's stream and listeners, res.send's header logic) cost it about as much as node:http itself.
 *
 * It answers exactly as the express routes do (status, headers, bodies, errors through the same
 * {@link answerHttpError}, the same request metrics, access log, deadline and draining), and takes only
 * requests whose handling needs none of express's generality: POST on the exact path (no query, the loaded
 * model's name), a Content-Length within the limit, no Content-Encoding. Anything else (chunked or compressed
 * bodies, oversized bodies, another model's name, a path express would match only case-insensitively, /v2 and
 * /v1 before the model is loaded) goes to express as before.
 */
export function createPredictFastPath(params: {
  /** the express app, for every request the fast path does not take */
  fallback: RequestListener;
  metrics: RequestMetrics;
  errors: HttpErrorPolicy;
  log: Logger;
  /** level of the access log line (as the express app's) */
  accessLogLevel: 'info' | 'debug';
  /** largest body accepted, in bytes (larger goes to express, which answers 413) */
  maxBodyBytes: number;
  isDraining: () => boolean;
  /** the scoring deadline (504), and the client leaving first (499), as the express routes apply them */
  withTimeout: <T>(work: (signal: AbortSignal) => Promise<T>, res: ServerResponse) => Promise<T>;
  /** the model, or the 503 AppError the express routes throw while it loads */
  requireModel: () => ServedModel;
}): PredictFastPath {
  // POST /invocations from the start: while the model loads, its 503 comes from here as from express's route
  // (body read, then the refusal), so serve's cold start does not load express for it (create-serve-front.ts)
  const routes = new Map<string, FastRoute>([['/invocations', MLFLOW_ROUTE]]);

  const takes = (req: IncomingMessage): FastRoute | undefined => {
    if (req.method !== 'POST') return undefined;
    const route = routes.get(req.url ?? '');
    if (route === undefined) return undefined;
    const { headers } = req;
    if (headers['transfer-encoding'] !== undefined) return undefined;
    const encoding = headers['content-encoding'];
    if (encoding !== undefined && encoding.toLowerCase() !== 'identity') return undefined;
    const length = headers['content-length'];
    if (length === undefined || Number(length) > params.maxBodyBytes) return undefined;
    return route;
  };

  const answer = async (req: IncomingMessage, res: ServerResponse, route: FastRoute): Promise<void> => {
    const path = req.url!;
    try {
      const body = await readBody(req, Number(req.headers['content-length']));
      const served = params.requireModel();
      const task = route.task(req, body);
      if ('unsupportedType' in task) {
        writeText(res, 415, task.unsupportedType);
        return;
      }
      writeScored(res, await params.withTimeout((signal) => served.score(task, { signal }), res));
    } catch (err) {
      const { status, body } = answerHttpError(params.errors, err, path);
      if (res.headersSent) {
        res.destroy();
        return;
      }
      writeJson(res, status, body);
    }
  };

  const handler: RequestListener = (req, res) => {
    const route = takes(req);
    if (route === undefined) {
      params.fallback(req, res);
      return;
    }
    trackRequest(req, res, {
      metrics: params.metrics,
      log: params.log,
      level: params.accessLogLevel,
      draining: params.isDraining(),
      path: req.url!,
      route: () => route.label,
    });
    void answer(req, res, route);
  };

  return {
    handler,
    setModel: (loaded) => {
      routes.clear();
      routes.set('/invocations', MLFLOW_ROUTE);
      // a name express would read differently in a path (escapes, separators) stays with express
      if (!/^[A-Za-z0-9._~-]+$/.test(loaded.name)) return;
      routes.set(`/v2/models/${loaded.name}/infer`, OIP_V2_ROUTE);
      routes.set(`/v1/models/${loaded.name}:predict`, KSERVE_V1_ROUTE);
    },
  };
}

const MLFLOW_ROUTE: FastRoute = {
  label: '/invocations',
  task: (req, body) => {
    const { format, refusal } = contentTypeVerdict(req.headers['content-type']);
    if (refusal !== null) return { unsupportedType: refusal };
    return { protocol: 'mlflow', format, body };
  },
};

const OIP_V2_ROUTE: FastRoute = {
  label: '/v2/models/:name/infer',
  task: (req, body) => ({ protocol: 'oip-v2', body, headerLength: inferenceHeaderLength(req.headers) }),
};

const KSERVE_V1_ROUTE: FastRoute = {
  label: '/v1/models/:target',
  task: (_req, body) => ({ protocol: 'kserve-v1', body }),
};

/**
 * The body, `length` bytes (the request's Content-Length), in a buffer of its own: the inference thread takes it
 * by transfer, no further copy. A body that comes in one piece is that piece (node's parser hands each piece of
 * a body over in a buffer of its own); a longer one is gathered into one buffer. Fails as body-parser does when
 * the client goes away before the end.
 */
function readBody(req: IncomingMessage, length: number): Promise<Uint8Array> {
  return new Promise((resolve, reject) => {
    let body: Buffer | null = null;
    let received = 0;
    req.on('data', (chunk: Buffer) => {
      if (body === null && chunk.length === length) body = chunk;
      else {
        body ??= Buffer.allocUnsafeSlow(length);
        // node's parser delivers exactly Content-Length bytes; more would be a framing bug, not a client's body
        if (received + chunk.length <= length) chunk.copy(body, received);
      }
      received += chunk.length;
      if (chunk !== body) release(chunk);
    });
    req.once('end', () => {
      if (received === length) resolve(body ?? new Uint8Array(0));
      else reject(httpStatusError(400, 'request size did not match content length'));
    });
    req.once('error', () => reject(httpStatusError(400, 'request aborted')));
  });
}

/**
 * Frees a piece of the body once copied, now rather than at the main thread's next full collection: node's parser
 * hands each piece over in a buffer of its own (the piece's size), which counts as external memory until it is
 * collected, and that count (~a body per request) is what started most of the main thread's mark-compacts under
 * large bodies. Detaching it (ArrayBuffer.prototype.transfer) frees its memory and its count at once. Only a buffer
 * the piece has to itself; nothing else holds a piece of a request this fast path reads.
 */
function release(chunk: Buffer): void {
  const { buffer } = chunk;
  if (buffer instanceof ArrayBuffer && chunk.byteOffset === 0 && chunk.byteLength === buffer.byteLength)
    buffer.transfer(0);
}

/** An error shaped like body-parser's (a 4xx `status`), for {@link answerHttpError}. */
function httpStatusError(status: number, message: string): Error & { status: number } {
  return Object.assign(new Error(message), { status });
}

/** 200 with an inference thread's answer; the headers express's res.type() + res.send() would write. */
function writeScored(res: ServerResponse, answer: ScoringAnswer): void {
  const { body, headerLength } = answer;
  if (headerLength === undefined) {
    res.writeHead(200, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(body.byteLength)]);
  } else {
    res.writeHead(200, [
      'Inference-Header-Content-Length',
      String(headerLength),
      'Content-Type',
      'application/octet-stream',
      'Content-Length',
      String(body.byteLength),
    ]);
  }
  res.end(body);
}

/** As express's res.status(status).json(body). */
export function writeJson(res: ServerResponse, status: number, body: unknown): void {
  const text = Buffer.from(JSON.stringify(body));
  res.writeHead(status, ['Content-Type', 'application/json; charset=utf-8', 'Content-Length', String(text.length)]);
  res.end(text);
}

/** As express's res.status(status).type('text/plain').send(text). */
function writeText(res: ServerResponse, status: number, text: string): void {
  const bytes = Buffer.from(text);
  res.writeHead(status, ['Content-Type', 'text/plain; charset=utf-8', 'Content-Length', String(bytes.length)]);
  res.end(bytes);
}
