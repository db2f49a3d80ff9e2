import { Agent, request, type Dispatcher } from 'undici';
import type { Readable } from 'node:stream';
import type { z } from 'zod';
import { describeFirstIssue } from '../config/describe-issues.js';
import { addSecretValues, redactSecrets } from '../log/create-logger.js';
import { parseRetryAfter, withRetry, type RetryAttempt } from '../retry/with-retry.js';
import { MlflowError, isRefusal, isRetryableMlflowError } from './mlflow-error.js';

/** How to reach one MLflow tracking server. */
export interface MlflowConnection {
  /** `MLFLOW_TRACKING_URI`; `user:pass@` in it is used as basic auth and never shown */
  trackingUri: string;
  username?: string | undefined;
  password?: string | undefined;
  /** bearer token; used when no username/password is given */
  token?: string | undefined;
  /** `MLFLOW_TRACKING_INSECURE_TLS`: accept any server certificate */
  insecureTls?: boolean | undefined;
  /** connect, headers and idle-body timeout of every request @default 30000 */
  timeoutMs?: number | undefined;
  /** retries of each request on 408/429/5xx and connection errors (`MAX_RETRIES`) */
  maxRetries: number;
  /** exponential backoff base (`BACKOFF_SECONDS` × 1000) */
  backoffMs: number;
  /** cap on one backoff wait @default 60000 */
  maxBackoffMs?: number | undefined;
  onRetry?: ((attempt: RetryAttempt & { what: string }) => void) | undefined;
}

/** An opened artifact body. */
export interface ArtifactResponse {
  statusCode: number;
  headers: Record<string, string | string[] | undefined>;
  body: Readable;
}

/**
 * The MLflow REST client: JSON calls of the tracking/registry API and streamed artifact downloads through the
 * tracking server's artifact proxy (`/api/2.0/mlflow-artifacts/artifacts`). Every call has timeouts and
 * retries; failures become {@link MlflowError}s whose messages name what was asked and what to check.
 */
export class MlflowClient {
  /** the tracking URI without credentials: safe in logs and messages */
  readonly origin: string;
  private readonly base: URL;
  private readonly authorization: string | undefined;
  private readonly dispatcher: Dispatcher;

  constructor(private readonly conn: MlflowConnection) {
    const url = new URL(conn.trackingUri);
    if (url.protocol !== 'http:' && url.protocol !== 'https:') {
      throw new MlflowError({
        code: 'MLFLOW_BAD_REQUEST',
        message: `MLFLOW_TRACKING_URI must be an http(s) URL of a tracking server, got ${url.protocol}`,
      });
    }
    const username = conn.username ?? (url.username === '' ? undefined : decodeURIComponent(url.username));
    const password = conn.password ?? (url.password === '' ? undefined : decodeURIComponent(url.password));
    url.username = '';
    url.password = '';
    this.base = url;
    this.origin = url.toString().replace(/\/$/, '');
    this.authorization = authorizationHeader(username, password, conn.token);
    // a server may echo a credential back: scrub it by value wherever it would be shown
    addSecretValues([password, conn.token, this.authorization?.replace(/^\w+ /, '')]);
    const timeout = conn.timeoutMs ?? 30_000;
    this.dispatcher = new Agent({
      connect: { timeout, rejectUnauthorized: conn.insecureTls !== true },
      headersTimeout: timeout,
      bodyTimeout: timeout,
    });
  }

  /** GET a REST endpoint (`/api/2.0/mlflow/…`) and validate its JSON with `schema`. */
  async getJson<S extends z.ZodType>(params: {
    path: string;
    query?: Record<string, string>;
    schema: S;
    /** what this asks for, in words, for error messages: `version 3 of model "iris"` */
    what: string;
  }): Promise<z.output<S>> {
    return this.json({ ...params, method: 'GET' });
  }

  /** POST JSON to a REST endpoint and validate the JSON answer with `schema`. */
  async postJson<S extends z.ZodType>(params: {
    path: string;
    body: unknown;
    schema: S;
    what: string;
  }): Promise<z.output<S>> {
    return this.json({ ...params, method: 'POST' });
  }

  /**
   * {@link postJson} for an endpoint the server may not have (MLflow 2 has no logged models): the server's refusal
   * (not found, or another 4xx but 401/403/408/429) is `{ ok: false, refusal }`, an expected answer and not an
   * exception; auth failures, an unavailable server and bad answers still throw.
   */
  async tryPostJson<S extends z.ZodType>(params: {
    path: string;
    body: unknown;
    schema: S;
    what: string;
  }): Promise<MlflowAnswer<z.output<S>>> {
    return this.answer({ ...params, method: 'POST' });
  }

  private async json<S extends z.ZodType>(params: JsonRequest<S>): Promise<z.output<S>> {
    const answer = await this.answer(params);
    if (!answer.ok) throw answer.refusal;
    return answer.data;
  }

  private async answer<S extends z.ZodType>(params: JsonRequest<S>): Promise<MlflowAnswer<z.output<S>>> {
    const read = await this.withRetries(params.what, async () => {
      const res = await this.send({ ...params, accept: 'application/json' });
      if (res.statusCode < 300) return { ok: true as const, json: await this.readJson(res, params.what) };
      const error = await this.errorOf(res, params.what);
      if (isRefusal(error)) return { ok: false as const, refusal: error };
      throw error;
    });
    if (!read.ok) return read;
    const parsed = params.schema.safeParse(read.json);
    if (!parsed.success) {
      throw new MlflowError({
        code: 'MLFLOW_BAD_RESPONSE',
        message: `MLflow at ${this.origin} sent an unexpected answer for ${params.what}: ${describeFirstIssue(parsed.error)}`,
      });
    }
    return { ok: true, data: parsed.data };
  }

  /** A 2xx answer's body as JSON, refused above {@link MAX_JSON_BYTES}. */
  private async readJson(res: Dispatcher.ResponseData, what: string): Promise<unknown> {
    const { text, complete } = await readCapped(res.body, MAX_JSON_BYTES);
    if (!complete) {
      throw new MlflowError({
        code: 'MLFLOW_BAD_RESPONSE',
        message: `MLflow at ${this.origin} sent more than ${MAX_JSON_BYTES / MIB} MiB of JSON for ${what}`,
      });
    }
    return parseJson(text);
  }

  /**
   * Opens one artifact through the proxy (`GET /api/2.0/mlflow-artifacts/artifacts/<path>`), from byte
   * `start` when given (`Range`; the server may answer 200 with the whole file). No retry here: the caller
   * retries the whole transfer (see download-artifacts.ts). Non-2xx answers throw.
   */
  async openArtifact(params: { proxyPath: string; start?: number; what: string }): Promise<ArtifactResponse> {
    const headers: Record<string, string> = {};
    if (params.start !== undefined && params.start > 0) headers.range = `bytes=${params.start}-`;
    const res = await this.send({
      method: 'GET',
      path: `/api/2.0/mlflow-artifacts/artifacts/${encodePath(params.proxyPath)}`,
      headers,
      what: params.what,
    });
    if (res.statusCode >= 300) throw await this.errorOf(res, params.what);
    return res;
  }

  /** Runs `fn` under this connection's retry policy; exhausted retries say so in the message. */
  async withRetries<T>(what: string, fn: () => Promise<T>): Promise<T> {
    try {
      return await withRetry({
        run: fn,
        maxRetries: this.conn.maxRetries,
        baseDelayMs: this.conn.backoffMs,
        maxDelayMs: this.conn.maxBackoffMs ?? 60_000,
        isRetryable: isRetryableMlflowError,
        onRetry: (a) => this.conn.onRetry?.({ ...a, what }),
      });
    } catch (err) {
      throw this.exhausted(err, what);
    }
  }

  private exhausted(err: unknown, what: string): unknown {
    if (!isRetryableMlflowError(err)) return err;
    const detail = err instanceof Error ? err.message : String(err);
    return new MlflowError({
      code: 'MLFLOW_UNAVAILABLE',
      message: `${detail} (gave up on ${what} after ${this.conn.maxRetries} retries: raise MAX_RETRIES/BACKOFF_SECONDS or check the tracking server)`,
      upstreamStatus: err instanceof MlflowError ? err.upstreamStatus : undefined,
      cause: err,
    });
  }

  private async send(params: {
    method: 'GET' | 'POST';
    path: string;
    query?: Record<string, string>;
    body?: unknown;
    headers?: Record<string, string>;
    accept?: string;
    what: string;
  }): Promise<Dispatcher.ResponseData> {
    const url = new URL(this.base.pathname.replace(/\/$/, '') + params.path, this.base);
    for (const [k, v] of Object.entries(params.query ?? {})) url.searchParams.set(k, v);
    const headers: Record<string, string> = { ...params.headers };
    if (params.accept) headers.accept = params.accept;
    if (this.authorization) headers.authorization = this.authorization;
    if (params.body !== undefined) headers['content-type'] = 'application/json';
    try {
      return await request(url, {
        method: params.method,
        headers,
        body: params.body === undefined ? null : JSON.stringify(params.body),
        dispatcher: this.dispatcher,
      });
    } catch (err) {
      throw this.requestFailed(err, params.what);
    }
  }

  /** A request that got no answer: an untrusted certificate is permanent, anything else is retried. */
  private requestFailed(err: unknown, what: string): MlflowError {
    const code = tlsCodeOf(err);
    if (code !== null) {
      return new MlflowError({
        code: 'MLFLOW_BAD_REQUEST',
        message:
          `the TLS certificate of MLflow at ${this.origin} is not trusted (${code}) for ${what}: give Node the CA ` +
          `(NODE_EXTRA_CA_CERTS) or set MLFLOW_TRACKING_INSECURE_TLS=true`,
        cause: err,
      });
    }
    const name = (err as { code?: string }).code ?? (err as Error).name;
    return new MlflowError({
      code: 'MLFLOW_UNAVAILABLE',
      message: `could not reach MLflow at ${this.origin} for ${what} (${name})`,
      cause: err,
    });
  }

  /** A non-2xx answer as an {@link MlflowError}: its body read up to {@link MAX_ERROR_BODY_BYTES}, then dropped. */
  private async errorOf(res: Dispatcher.ResponseData, what: string): Promise<MlflowError> {
    const { text } = await readCapped(res.body, MAX_ERROR_BODY_BYTES).catch(() => ({ text: '' }));
    return this.errorFor(res.statusCode, text, res.headers, what);
  }

  /** Turns a non-2xx answer into an {@link MlflowError} that says what to check. */
  errorFor(status: number, bodyText: string, headers: Dispatcher.ResponseData['headers'], what: string): MlflowError {
    const body = safeErrorBody(bodyText);
    const detail = body.message ? `: ${redactSecrets(body.message).slice(0, 300)}` : '';
    if (status === 401 || status === 403) {
      return new MlflowError({
        code: 'MLFLOW_AUTH',
        upstreamStatus: status,
        message:
          `MLflow at ${this.origin} answered ${status} for ${what}: check MLFLOW_TRACKING_USERNAME/MLFLOW_TRACKING_PASSWORD ` +
          `(or MLFLOW_TRACKING_TOKEN) and that this user may read the model`,
      });
    }
    if (isNotFound(status, body)) {
      return new MlflowError({
        code: 'MODEL_NOT_FOUND',
        upstreamStatus: status,
        message: `${what} not found on MLflow at ${this.origin}${detail}: check the model name, version, alias or stage in MODEL_URI`,
      });
    }
    if (status === 408 || status === 429 || status >= 500) {
      const retryAfter = header(headers, 'retry-after');
      return new MlflowError({
        code: 'MLFLOW_UNAVAILABLE',
        upstreamStatus: status,
        retryAfterMs: parseRetryAfter(retryAfter) ?? undefined,
        message: `MLflow at ${this.origin} answered ${status} for ${what}${detail}`,
      });
    }
    return new MlflowError({
      code: 'MLFLOW_BAD_REQUEST',
      upstreamStatus: status,
      message: `MLflow at ${this.origin} refused ${what} (${status})${detail}`,
    });
  }

  /** Closes the connection pool. */
  async close(): Promise<void> {
    await this.dispatcher.close();
  }
}

/** A JSON request to the REST API. */
interface JsonRequest<S extends z.ZodType> {
  method: 'GET' | 'POST';
  path: string;
  query?: Record<string, string>;
  body?: unknown;
  schema: S;
  what: string;
}

/** A REST answer, or the server's refusal of the request (see {@link MlflowClient.tryPostJson}). */
export type MlflowAnswer<T> = { ok: true; data: T } | { ok: false; refusal: MlflowError };

const MIB = 1024 * 1024;
/** A REST answer (a model version, one folder's listing) larger than this is not MLflow's. */
const MAX_JSON_BYTES = 64 * MIB;
/** Of an error answer only this much is read: the status classifies it, the body only adds a message. */
const MAX_ERROR_BODY_BYTES = 64 * 1024;

/**
 * At most the first `max` bytes of the body as text, and whether that was all of it. A longer body is not read
 * through (the connection is dropped), so a hostile server cannot make us buffer or wait for gigabytes.
 */
async function readCapped(body: Readable, max: number): Promise<{ text: string; complete: boolean }> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    if (size + chunk.length > max) {
      chunks.push(chunk.subarray(0, max - size));
      body.destroy();
      return { text: Buffer.concat(chunks).toString('utf8'), complete: false };
    }
    size += chunk.length;
    chunks.push(chunk);
  }
  return { text: Buffer.concat(chunks).toString('utf8'), complete: true };
}

function authorizationHeader(username?: string, password?: string, token?: string): string | undefined {
  if (username !== undefined && password !== undefined) {
    return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
  }
  if (token !== undefined && token !== '') return `Bearer ${token}`;
  return undefined;
}

/** Node's certificate-verification error codes (`SELF_SIGNED_CERT_IN_CHAIN`, `CERT_HAS_EXPIRED`, …), or null. */
function tlsCodeOf(err: unknown): string | null {
  for (let e: unknown = err, depth = 0; e !== null && typeof e === 'object' && depth < 5; depth++) {
    const code = (e as { code?: unknown }).code;
    if (typeof code === 'string' && /CERT|SELF_SIGNED|UNABLE_TO_VERIFY|ERR_TLS_CERT/.test(code)) return code;
    e = (e as { cause?: unknown }).cause;
  }
  return null;
}

function parseJson(text: string): unknown {
  try {
    return JSON.parse(text) as unknown;
  } catch {
    return undefined;
  }
}

/** The fields of an MLflow error body modelctl reads (`{"error_code": ..., "message": ...}`). */
interface ErrorBody {
  errorCode?: string | undefined;
  message?: string | undefined;
}

function safeErrorBody(text: string): ErrorBody {
  const data = parseJson(text) as { error_code?: unknown; message?: unknown } | undefined;
  if (data === undefined || data === null || typeof data !== 'object') return {};
  return {
    errorCode: typeof data.error_code === 'string' ? data.error_code : undefined,
    message: typeof data.message === 'string' ? data.message : undefined,
  };
}

/** MLflow says "not found" with 404, with `RESOURCE_DOES_NOT_EXIST`, and (aliases) with a 400 + "not found". */
function isNotFound(status: number, body: ErrorBody): boolean {
  if (status === 404 || body.errorCode === 'RESOURCE_DOES_NOT_EXIST') return true;
  return status === 400 && /not found|does not exist/i.test(body.message ?? '');
}

function header(headers: Dispatcher.ResponseData['headers'], name: string): string | undefined {
  const value = headers[name];
  return Array.isArray(value) ? value[0] : value;
}

/** Percent-encodes each segment of a proxy path, keeping the slashes. */
function encodePath(p: string): string {
  return p
    .split('/')
    .map((s) => encodeURIComponent(s))
    .join('/');
}
