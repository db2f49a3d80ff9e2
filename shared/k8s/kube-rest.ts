import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { parse as parseYaml } from 'yaml';
import { AppError } from '../errors/app-error.js';
import { kubeAppError, serverMessage } from './kube-error.js';
import { kubeconfigFiles } from './kubeconfig-files.js';

/**
 * A small Kubernetes REST client for long-lived processes that touch a handful of core/v1 objects (the agent):
 * JSON requests and watch streams over undici, nothing else. `@kubernetes/client-node` loads its whole generated
 * API (~25 MB of JavaScript, ~60 MB of RSS) even for one call; this does not load it, except as the fallback for
 * kubeconfig users whose credentials come from a plugin (exec, auth-provider) or who go through a proxy.
 */
export interface KubeRest {
  /** the API server's base URL */
  readonly server: string;
  /**
   * One JSON request. `path` starts with `/api/` or `/apis/`.
   * @throws KubeStatusError when the server answers with a status ≥ 300; other errors as they come (network)
   */
  request<T>(req: KubeRequest): Promise<T>;
  /** A watch (`watch=true` is added): the events as they come, until the server ends the stream or `signal` aborts. */
  watch<T>(path: string, query: Record<string, string>, signal: AbortSignal): AsyncIterable<WatchEvent<T>>;
  /** Closes the connections. */
  close(): Promise<void>;
}

export interface KubeRequest {
  method?: 'GET' | 'POST' | 'PUT' | 'PATCH' | 'DELETE';
  path: string;
  query?: Record<string, string> | undefined;
  body?: unknown;
  /** @default application/json */
  contentType?: string;
  signal?: AbortSignal | undefined;
}

/** One line of a watch stream. `ERROR` carries a metav1.Status (410 Gone: list again). */
export interface WatchEvent<T> {
  type: 'ADDED' | 'MODIFIED' | 'DELETED' | 'BOOKMARK' | 'ERROR';
  object: T;
}

/** The API server answered with an error status; `body` is its (JSON) Status as text. */
export class KubeStatusError extends Error {
  readonly code: number;
  readonly body: string;

  constructor(code: number, body: string, what: string) {
    super(`${what}: HTTP ${code}: ${serverMessage(body) ?? ''}`.trimEnd());
    this.name = 'KubeStatusError';
    this.code = code;
    this.body = body;
  }
}

/** What a request needs: where, which TLS settings, which headers (read per request: tokens rotate). */
interface Access {
  server: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string };
  headers(): Promise<Record<string, string>>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Projected ServiceAccount tokens rotate (about hourly); read the file again after this long, as client-go does. */
const TOKEN_REREAD_MS = 60_000;
const REQUEST_TIMEOUT_MS = 30_000;

/** Where the API server is from inside a pod (the kubelet sets these variables in every container). */
export interface InClusterEnv {
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBERNETES_SERVICE_PORT?: string | undefined;
}

/**
 * The client for `kubeconfigPath` (`KUBECONFIG`; a `:`-separated list is merged by client-node's own loading,
 * shared/k8s/load-kube-config.ts), else `~/.kube/config`, else the in-cluster ServiceAccount: the resolution of
 * client-node's `loadFromDefault()`. One static file is read here without loading client-node.
 */
export async function loadKubeRest(params: {
  kubeconfigPath?: string | undefined;
  env: InClusterEnv;
}): Promise<KubeRest> {
  const files = kubeconfigFiles(params.kubeconfigPath);
  if (files.length > 1) return restClient(await clientNodeAccess(params.kubeconfigPath ?? ''));
  const file = files[0] ?? defaultKubeconfigFile(params.env);
  const access = file ? await fromKubeconfig(file) : inCluster(params.env);
  return restClient(access);
}

function defaultKubeconfigFile(env: InClusterEnv): string | undefined {
  const home = path.join(homedir(), '.kube', 'config');
  if (existsSync(home)) return home;
  if (env.KUBERNETES_SERVICE_HOST && existsSync(path.join(SA_DIR, 'token'))) return undefined;
  throw new AppError({
    code: 'KUBE_UNAVAILABLE',
    message: 'no cluster credentials: set KUBECONFIG (--kubeconfig) or run in a pod with a ServiceAccount token',
    statusCode: 503,
  });
}

function inCluster(env: InClusterEnv): Access {
  const host = env.KUBERNETES_SERVICE_HOST ?? '';
  const port = env.KUBERNETES_SERVICE_PORT ?? '443';
  return {
    server: `https://${host.includes(':') ? `[${host}]` : host}:${port}`,
    tls: { ca: readFileSync(path.join(SA_DIR, 'ca.crt')) },
    headers: bearerFromFile(path.join(SA_DIR, 'token')),
  };
}

function bearerFromFile(file: string): () => Promise<Record<string, string>> {
  let token = '';
  let readAt = 0;
  return async () => {
    if (Date.now() - readAt > TOKEN_REREAD_MS) {
      token = readFileSync(file, 'utf8').trim();
      readAt = Date.now();
    }
    return { authorization: `Bearer ${token}` };
  };
}

interface KubeconfigNamed<T> {
  name: string;
  [key: string]: unknown;
  cluster?: T;
  user?: T;
  context?: T;
}

/** A kubeconfig with static credentials (token, token file, client certificate); else client-node's auth. */
async function fromKubeconfig(file: string): Promise<Access> {
  const doc = (parseYaml(readFileSync(file, 'utf8')) ?? {}) as Record<string, unknown>;
  const pick = (list: unknown, name: unknown, key: 'cluster' | 'user' | 'context'): Record<string, unknown> => {
    const found = (Array.isArray(list) ? (list as KubeconfigNamed<Record<string, unknown>>[]) : []).find(
      (e) => e.name === name,
    );
    return found?.[key] ?? {};
  };
  const context = pick(doc.contexts, doc['current-context'], 'context');
  const cluster = pick(doc.clusters, context.cluster, 'cluster');
  const user = pick(doc.users, context.user, 'user');
  const needsClientNode = ['exec', 'auth-provider', 'username', 'as'].some((k) => user[k] !== undefined);
  if (needsClientNode || cluster['proxy-url'] !== undefined) return clientNodeAccess(file);
  if (typeof cluster.server !== 'string' || cluster.server === '')
    throw new AppError({ code: 'INVALID_CONFIG', message: `kubeconfig ${file}: no server in the current context` });
  const dir = path.dirname(file);
  const tls = staticTls({ cluster, user, dir });
  if (cluster.server.startsWith('http:') && tls.rejectUnauthorized !== false)
    throw new AppError({
      code: 'INVALID_CONFIG',
      message: `kubeconfig ${file}: HTTP server without insecure-skip-tls-verify`,
    });
  return { server: cluster.server.replace(/\/+$/, ''), tls, headers: staticHeaders(user, dir) };
}

/** A kubeconfig user's bearer token: `token`, else `tokenFile` (relative to the kubeconfig's folder), else none. */
function staticHeaders(user: Record<string, unknown>, dir: string): Access['headers'] {
  const token = typeof user.token === 'string' && user.token ? user.token : undefined;
  const tokenFile =
    typeof user.tokenFile === 'string' && user.tokenFile ? path.resolve(dir, user.tokenFile) : undefined;
  if (token) return async () => ({ authorization: `Bearer ${token}` });
  return tokenFile ? bearerFromFile(tokenFile) : async () => ({});
}

/** The TLS settings of a kubeconfig's cluster and user; relative file names are relative to the kubeconfig's folder. */
function staticTls(params: {
  cluster: Record<string, unknown>;
  user: Record<string, unknown>;
  dir: string;
}): Access['tls'] {
  const bytes = (from: Record<string, unknown>, fileKey: string, dataKey: string): Buffer | undefined => {
    const f = from[fileKey];
    if (typeof f === 'string' && f) return readFileSync(path.resolve(params.dir, f));
    const d = from[dataKey];
    return typeof d === 'string' && d ? Buffer.from(d, 'base64') : undefined;
  };
  const { cluster, user } = params;
  const tls: Access['tls'] = {};
  const ca = bytes(cluster, 'certificate-authority', 'certificate-authority-data');
  const cert = bytes(user, 'client-certificate', 'client-certificate-data');
  const key = bytes(user, 'client-key', 'client-key-data');
  if (ca) tls.ca = ca;
  if (cert) tls.cert = cert;
  if (key) tls.key = key;
  if (cluster['insecure-skip-tls-verify'] === true) tls.rejectUnauthorized = false;
  if (typeof cluster['tls-server-name'] === 'string') tls.servername = cluster['tls-server-name'];
  return tls;
}

/** Credentials from a plugin, or a merged list of files: client-node works them out (loaded only in this case). */
async function clientNodeAccess(file: string): Promise<Access> {
  const { loadKubeConfig } = await import('./load-kube-config.js');
  const kc = loadKubeConfig({ kubeconfigPath: file });
  const cluster = kc.getCurrentCluster();
  if (!cluster) throw new AppError({ code: 'INVALID_CONFIG', message: `kubeconfig ${file}: no current cluster` });
  if (cluster.proxyUrl)
    throw new AppError({ code: 'INVALID_CONFIG', message: `kubeconfig ${file}: proxy-url is not supported here` });
  const apply = async (): Promise<RequestOptions> => {
    const opts: RequestOptions = {};
    await kc.applyToHTTPSOptions(opts);
    return opts;
  };
  const first = await apply();
  const tls: Access['tls'] = {};
  if (first.ca) tls.ca = Buffer.from(first.ca as Buffer | string);
  if (first.cert) tls.cert = Buffer.from(first.cert as Buffer | string);
  if (first.key) tls.key = Buffer.from(first.key as Buffer | string);
  if (first.rejectUnauthorized === false) tls.rejectUnauthorized = false;
  if (first.servername) tls.servername = first.servername;
  return {
    server: cluster.server.replace(/\/+$/, ''),
    tls,
    async headers() {
      const opts = await apply();
      const out: Record<string, string> = {};
      for (const [k, v] of Object.entries(opts.headers ?? {})) if (v !== undefined) out[k.toLowerCase()] = String(v);
      if (opts.auth) out.authorization = `Basic ${Buffer.from(opts.auth).toString('base64')}`;
      return out;
    },
  };
}

function restClient(access: Access): KubeRest {
  const dispatcher: Dispatcher = new Agent({
    connect: { ...access.tls, keepAlive: true, keepAliveInitialDelay: 30_000 },
  });
  const url = (p: string, query?: Record<string, string>): string => {
    const qs = query && Object.keys(query).length > 0 ? `?${new URLSearchParams(query).toString()}` : '';
    return `${access.server}${p}${qs}`;
  };
  return {
    server: access.server,
    async request<T>(req: KubeRequest): Promise<T> {
      const method = req.method ?? 'GET';
      const headers: Record<string, string> = { accept: 'application/json', ...(await access.headers()) };
      if (req.body !== undefined) headers['content-type'] = req.contentType ?? 'application/json';
      const res = await request(url(req.path, req.query), {
        method,
        headers,
        body: req.body === undefined ? null : JSON.stringify(req.body),
        dispatcher,
        signal: req.signal ?? null,
        headersTimeout: REQUEST_TIMEOUT_MS,
        bodyTimeout: REQUEST_TIMEOUT_MS,
      });
      const text = await res.body.text();
      if (res.statusCode >= 300) throw new KubeStatusError(res.statusCode, text, `${method} ${req.path}`);
      return JSON.parse(text) as T;
    },
    async *watch<T>(p: string, query: Record<string, string>, signal: AbortSignal): AsyncIterable<WatchEvent<T>> {
      const timeoutSeconds = Number(query.timeoutSeconds ?? 0);
      const res = await request(url(p, { ...query, watch: 'true' }), {
        method: 'GET',
        headers: { accept: 'application/json', ...(await access.headers()) },
        dispatcher,
        signal,
        headersTimeout: REQUEST_TIMEOUT_MS,
        // the server ends the stream after timeoutSeconds; a silent connection past that is dead
        bodyTimeout: timeoutSeconds > 0 ? (timeoutSeconds + 30) * 1000 : 0,
      });
      if (res.statusCode >= 300) throw new KubeStatusError(res.statusCode, await res.body.text(), `watch ${p}`);
      res.body.setEncoding('utf8');
      let pending = '';
      for await (const chunk of res.body as AsyncIterable<string>) {
        pending += chunk;
        let nl: number;
        while ((nl = pending.indexOf('\n')) >= 0) {
          const line = pending.slice(0, nl).trim();
          pending = pending.slice(nl + 1);
          if (line) yield JSON.parse(line) as WatchEvent<T>;
        }
      }
      if (pending.trim()) yield JSON.parse(pending) as WatchEvent<T>;
    },
    async close() {
      await dispatcher.close();
    },
  };
}

/** REST errors as AppErrors with the same stable codes as client-node's (see kubeAppError). */
export function kubeRestError(err: unknown, action: string): AppError {
  return kubeAppError(err, action, err instanceof KubeStatusError ? { status: err.code, body: err.body } : null);
}

/** True when `err` is the API server's answer `status` (e.g. 404, 409). */
export function isKubeStatus(err: unknown, status: number): boolean {
  return err instanceof KubeStatusError && err.code === status;
}
