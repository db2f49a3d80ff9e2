import { existsSync, readFileSync } from 'node:fs';
import type { RequestOptions } from 'node:https';
import { homedir } from 'node:os';
import path from 'node:path';
import { parse as parseYaml } from 'yaml';
import { AppError } from '../errors/app-error.js';
import { kubeconfigFiles } from './kubeconfig-files.js';

/**
 * The agent's REST client, capability 1 of 2: where the API server is and how to authenticate (kube-rest-client.ts
 * sends the requests). Static credentials are read here without client-node; a plugin, a proxy or a merged
 * `KUBECONFIG` list goes through client-node's own loading (load-kube-config.ts).
 */

/** What a request needs: where, which TLS settings, which headers (read per request: tokens rotate). */
export interface KubeAccess {
  server: string;
  tls: { ca?: Buffer; cert?: Buffer; key?: Buffer; rejectUnauthorized?: boolean; servername?: string };
  headers(): Promise<Record<string, string>>;
}

const SA_DIR = '/var/run/secrets/kubernetes.io/serviceaccount';
/** Projected ServiceAccount tokens rotate (about hourly); read the file again after this long, as client-go does. */
const TOKEN_REREAD_MS = 60_000;
/** Where the API server is from inside a pod (the kubelet sets these variables in every container). */
export interface InClusterEnv {
  KUBERNETES_SERVICE_HOST?: string | undefined;
  KUBERNETES_SERVICE_PORT?: string | undefined;
}

/**
 * The access for `kubeconfigPath` (`KUBECONFIG`; a `:`-separated list is merged by client-node's own loading,
 * shared/k8s/load-kube-config.ts), else `~/.kube/config`, else the in-cluster ServiceAccount: the resolution of
 * client-node's `loadFromDefault()`. One static file is read here without loading client-node.
 */
export async function resolveKubeAccess(params: {
  kubeconfigPath?: string | undefined;
  env: InClusterEnv;
}): Promise<KubeAccess> {
  const files = kubeconfigFiles(params.kubeconfigPath);
  if (files.length > 1) return clientNodeAccess(params.kubeconfigPath ?? '');
  const file = files[0] ?? defaultKubeconfigFile(params.env);
  return file ? fromKubeconfig(file) : inCluster(params.env);
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

function inCluster(env: InClusterEnv): KubeAccess {
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
async function fromKubeconfig(file: string): Promise<KubeAccess> {
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
function staticHeaders(user: Record<string, unknown>, dir: string): KubeAccess['headers'] {
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
}): KubeAccess['tls'] {
  const bytes = (from: Record<string, unknown>, fileKey: string, dataKey: string): Buffer | undefined => {
    const f = from[fileKey];
    if (typeof f === 'string' && f) return readFileSync(path.resolve(params.dir, f));
    const d = from[dataKey];
    return typeof d === 'string' && d ? Buffer.from(d, 'base64') : undefined;
  };
  const { cluster, user } = params;
  const tls: KubeAccess['tls'] = {};
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
async function clientNodeAccess(file: string): Promise<KubeAccess> {
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
  const tls: KubeAccess['tls'] = {};
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
