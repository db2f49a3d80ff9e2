import { randomBytes, randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { z } from 'zod';
import { FaultSet, HubEndpoint, type FaultAction } from './faults.js';
import { handleModelInfo, handlePathsInfo, handleRefs, handleTree, type ApiDeps } from './hub-api.js';
import { RepoCache, type TokenGrant } from './repo-access.js';
import { RequestLog } from './request-log.js';
import { handleCdn, handleResolve, type ResolveDeps } from './resolve-file.js';
import { logWhenDone, sendHubError, sendJson, type RequestContext } from './respond.js';

/** Requests allowed per window and resource, as the Hub's `RateLimit-Policy` announces them. */
const RateLimits = z.object({
  /** `/api/*` calls per window */
  api: z.number().int().min(1),
  /** `/resolve/` calls per window */
  resolvers: z.number().int().min(1),
  windowSeconds: z.number().int().min(1),
});
export type RateLimits = z.infer<typeof RateLimits>;

/** Settings tests may change at runtime (`PATCH /_admin/config`). */
export const HubConfig = z.object({
  treePageSize: z.number().int().min(1),
  cdnUrlTtlSeconds: z.number().int().min(0),
  rateLimits: RateLimits,
});
export type HubConfig = z.infer<typeof HubConfig>;

export interface HubServerOptions {
  /** the repo store (see repo-store.ts) */
  reposDir: string;
  /** @default "127.0.0.1" */
  host?: string;
  /** @default 0 (a free port) */
  port?: number;
  /** port of the CDN origin @default 0 (a free port) */
  cdnPort?: number;
  /**
   * origin the LFS redirects name, when clients reach the CDN at another address than the one it listens on
   * (in a cluster: the Service's name) @default `http://{host}:{cdnPort}`
   */
  cdnPublicUrl?: string;
  /** accepted bearer tokens @default {} */
  tokens?: Record<string, TokenGrant>;
  /** @default 1000, as the Hub */
  treePageSize?: number;
  /** @default 3600 */
  cdnUrlTtlSeconds?: number;
  /** @default { api: 100000, resolvers: 100000, windowSeconds: 300 } (effectively unlimited) */
  rateLimits?: RateLimits;
  /** key of the CDN URL signatures @default random */
  signingSecret?: string;
  /** clock, in ms @default Date.now */
  now?: () => number;
}

/** A running local Hub: Hub origin, CDN origin, runtime faults, config and request log. */
export interface HubServer {
  /** Hub endpoint, e.g. http://127.0.0.1:41234 (pass as `endpoint=` / `hubUrl`) */
  url: string;
  /** CDN origin the LFS redirects point to */
  cdnUrl: string;
  /** base of the admin API (`${url}/_admin`) */
  adminUrl: string;
  faults: FaultSet;
  log: RequestLog;
  config: HubConfig;
  /** restores the config given at start, clears faults and rate-limit counters */
  reset(): void;
  close(): Promise<void>;
}

/** Starts the local Hub (two listeners: Hub + CDN) in this process. */
export async function startHubServer(options: HubServerOptions): Promise<HubServer> {
  const host = options.host ?? '127.0.0.1';
  const initial = initialConfig(options);
  const now = options.now ?? Date.now;
  const state: ServerState = {
    config: structuredClone(initial),
    faults: new FaultSet(),
    log: new RequestLog(),
    limiter: new RateLimiter(now),
  };
  let cdnOrigin = '';
  const deps = handlerDeps(options, state, () => cdnOrigin);
  const hub = createServer((req, res) => void serveHub(req, res, { deps, state }).catch((e) => fail(res, e)));
  const cdn = createServer((req, res) => void serveCdn(req, res, { deps, state }).catch((e) => fail(res, e)));
  const url = `http://${host}:${await listen(hub, host, options.port ?? 0)}`;
  const cdnPort = await listen(cdn, host, options.cdnPort ?? 0);
  cdnOrigin = options.cdnPublicUrl?.replace(/\/+$/, '') ?? `http://${host}:${cdnPort}`;
  const server: HubServer = {
    url,
    cdnUrl: cdnOrigin,
    adminUrl: `${url}/_admin`,
    faults: state.faults,
    log: state.log,
    get config() {
      return state.config;
    },
    set config(value: HubConfig) {
      state.config = value;
    },
    reset() {
      state.config = structuredClone(initial);
      state.faults.clear();
      state.limiter.clear();
    },
    close: () => Promise.all([closeServer(hub), closeServer(cdn)]).then(() => undefined),
  };
  state.server = server;
  return server;
}

/** The config given at start, defaults filled. */
function initialConfig(options: HubServerOptions): HubConfig {
  return {
    treePageSize: options.treePageSize ?? 1000,
    cdnUrlTtlSeconds: options.cdnUrlTtlSeconds ?? 3600,
    rateLimits: options.rateLimits ?? { api: 100_000, resolvers: 100_000, windowSeconds: 300 },
  };
}

/** What the Hub and CDN handlers read: the repos, tokens, and the live config. */
function handlerDeps(options: HubServerOptions, state: ServerState, cdnOrigin: () => string): ApiDeps & ResolveDeps {
  return {
    repos: new RepoCache(options.reposDir),
    tokens: options.tokens ?? {},
    treePageSize: () => state.config.treePageSize,
    cdnOrigin,
    signingSecret: options.signingSecret ?? randomBytes(16).toString('hex'),
    cdnUrlTtlSeconds: () => state.config.cdnUrlTtlSeconds,
    now: options.now ?? Date.now,
  };
}

interface ServerState {
  config: HubConfig;
  faults: FaultSet;
  log: RequestLog;
  limiter: RateLimiter;
  server?: HubServer;
}

function fail(res: ServerResponse, err: unknown): void {
  console.error('hub-server: request failed', err);
  if (!res.headersSent) res.writeHead(500, { 'Content-Type': 'application/json' }).end('{"error":"Internal Error"}');
  else res.destroy();
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen(port, host, () => resolve((server.address() as AddressInfo).port));
  });
}

function closeServer(server: Server): Promise<void> {
  server.closeAllConnections();
  return new Promise((resolve) => server.close(() => resolve()));
}

/** A parsed Hub route. */
interface Route {
  endpoint: HubEndpoint;
  repo?: string;
  rev?: string;
  path?: string;
}

function decodeSegment(s: string): string {
  try {
    return decodeURIComponent(s);
  } catch {
    return s;
  }
}

/** Maps a raw path to a Hub route (no dot-segment normalisation). */
function parseHubPath(rawPath: string): Route {
  const seg = rawPath.split('/').slice(1);
  if (seg[0] === 'api' && seg[1] === 'models' && seg.length >= 4) return parseModelsApiPath(seg);
  if (seg[0] === 'api' && seg[1] === 'resolve-cache' && seg[2] === 'models' && seg.length >= 7) {
    return { endpoint: 'resolve-cache', ...repoRevPath(seg.slice(3)) };
  }
  if (seg.length >= 5 && seg[2] === 'resolve')
    return { endpoint: 'resolve', ...repoRevPath([seg[0]!, seg[1]!, ...seg.slice(3)]) };
  return { endpoint: 'other' };
}

/** `api/models/{org}/{name}[/{kind}/{rev}/...]`. */
function parseModelsApiPath(seg: string[]): Route {
  const repo = `${decodeSegment(seg[2]!)}/${decodeSegment(seg[3]!)}`;
  const [kind, rev, ...rest] = seg.slice(4);
  if (kind === undefined) return { endpoint: 'model-info', repo, rev: 'main' };
  if (kind === 'refs') return { endpoint: rev ? 'other' : 'refs', repo };
  if (!rev) return { endpoint: 'other', repo };
  if (kind === 'revision') return { endpoint: 'revision', repo, rev: decodeSegment(rev) };
  if (kind === 'tree') return { endpoint: 'tree', repo, rev: decodeSegment(rev), path: decodeSegment(rest.join('/')) };
  if (kind === 'paths-info') return { endpoint: 'paths-info', repo, rev: decodeSegment(rev) };
  return { endpoint: 'other', repo };
}

/** `{org}/{name}/{rev}/{path...}`, each segment decoded. */
function repoRevPath(seg: string[]): { repo: string; rev: string; path: string } {
  return {
    repo: `${decodeSegment(seg[0]!)}/${decodeSegment(seg[1]!)}`,
    rev: decodeSegment(seg[2]!),
    path: seg.slice(3).map(decodeSegment).join('/'),
  };
}

function newContext(req: IncomingMessage, res: ServerResponse, endpoint: HubEndpoint): RequestContext {
  const raw = req.url ?? '/';
  const q = raw.indexOf('?');
  return {
    req,
    res,
    method: (req.method ?? 'GET').toUpperCase(),
    rawPath: q < 0 ? raw : raw.slice(0, q),
    query: new URLSearchParams(q < 0 ? '' : raw.slice(q + 1)),
    endpoint,
    fault: null,
    bytes: 0,
    aborted: false,
    origin: `http://${req.headers.host ?? '127.0.0.1'}`,
    requestId: `Root=1-${randomUUID()}`,
  };
}

async function serveHub(
  req: IncomingMessage,
  res: ServerResponse,
  app: { deps: ApiDeps & ResolveDeps; state: ServerState },
): Promise<void> {
  const probe = newContext(req, res, 'other');
  if (probe.rawPath === '/_admin' || probe.rawPath.startsWith('/_admin/')) return serveAdmin(probe, app.state);
  const route = parseHubPath(probe.rawPath);
  const ctx: RequestContext = { ...probe, endpoint: route.endpoint, repo: route.repo, path: route.path };
  logWhenDone(ctx, app.state.log);
  ctx.fault = app.state.faults.take({
    endpoint: ctx.endpoint,
    method: ctx.method,
    repo: ctx.repo,
    path: ctx.path,
    range: req.headers.range !== undefined,
  });
  if (await applyEarlyFault(ctx, ctx.fault)) return;
  if (!applyRateLimit(ctx, app.state)) return;
  await dispatch(ctx, route, app.deps);
}

type RouteHandler = (ctx: RequestContext, deps: ApiDeps & ResolveDeps, route: Route & { rev: string }) => Promise<void>;

/** The handler of each Hub endpoint; the others are 404. */
const ROUTE_HANDLERS: Partial<Record<HubEndpoint, RouteHandler>> = {
  'model-info': (ctx, deps, { rev }) => handleModelInfo(ctx, deps, rev),
  revision: (ctx, deps, { rev }) => handleModelInfo(ctx, deps, rev),
  tree: (ctx, deps, { rev, path }) => handleTree(ctx, deps, rev, path ?? ''),
  'paths-info': async (ctx, deps, { rev }) => handlePathsInfo(ctx, deps, rev, await readBody(ctx.req)),
  resolve: (ctx, deps, { rev }) => handleResolve(ctx, deps, { rev, pinned: false }),
  'resolve-cache': (ctx, deps, { rev }) => handleResolve(ctx, deps, { rev, pinned: true }),
  refs: (ctx, deps) => handleRefs(ctx, deps),
};

async function dispatch(ctx: RequestContext, route: Route, deps: ApiDeps & ResolveDeps): Promise<void> {
  const allowed = route.endpoint === 'paths-info' ? ['POST'] : ['GET', 'HEAD'];
  if (route.endpoint !== 'other' && !allowed.includes(ctx.method)) {
    return sendHubError(ctx, { status: 405, message: `Method ${ctx.method} not allowed` });
  }
  const handler = ROUTE_HANDLERS[route.endpoint];
  if (!handler) {
    return sendHubError(ctx, { status: 404, message: 'Sorry, we can\u2019t find the page you are looking for.' });
  }
  return handler(ctx, deps, { ...route, rev: route.rev ?? 'main' });
}

async function readBody(req: IncomingMessage): Promise<string> {
  const chunks: Buffer[] = [];
  let size = 0;
  for await (const chunk of req as AsyncIterable<Buffer>) {
    size += chunk.length;
    if (size > 1024 * 1024) throw new Error('request body too large');
    chunks.push(chunk);
  }
  return Buffer.concat(chunks).toString('utf8');
}

/** Status and delay faults act before routing; the others act inside the handlers. */
async function applyEarlyFault(ctx: RequestContext, fault: FaultAction | null): Promise<boolean> {
  if (fault?.kind === 'delay') await sleep(fault.ms);
  if (fault?.kind !== 'status') return false;
  const message = fault.errorMessage ?? defaultStatusMessage(fault.status);
  await sendHubError(ctx, { status: fault.status, code: fault.errorCode, message, headers: faultHeaders(ctx, fault) });
  return true;
}

type StatusFault = Extract<FaultAction, { kind: 'status' }>;

/** `Retry-After` when the fault sets one; a 429 also says which rate limit it hit. */
function faultHeaders(ctx: RequestContext, fault: StatusFault): Record<string, string> {
  const headers: Record<string, string> = {};
  if (fault.retryAfter !== undefined) headers['Retry-After'] = String(fault.retryAfter);
  if (fault.status === 429) {
    const resource = resourceOf(ctx.endpoint);
    headers.RateLimit = `"${resource}";r=0;t=${fault.retryAfter ?? 1}`;
    headers['RateLimit-Policy'] = `"fixed window";"${resource}";q=500;w=300`;
  }
  return headers;
}

function defaultStatusMessage(status: number): string {
  if (status === 429) return 'Too Many Requests';
  return status >= 500 ? 'Internal Error' : 'Error';
}

function resourceOf(endpoint: HubEndpoint): 'api' | 'resolvers' {
  return endpoint === 'resolve' || endpoint === 'resolve-cache' ? 'resolvers' : 'api';
}

/** Fixed-window counters per resource, shared by every client (as all nodes behind one NAT share one IP). */
class RateLimiter {
  private windowStart = 0;
  private counts = { api: 0, resolvers: 0 };
  private readonly now: () => number;

  constructor(now: () => number) {
    this.now = now;
  }

  /** Counts one request; returns what is left and when the window resets. */
  hit(
    resource: 'api' | 'resolvers',
    limits: RateLimits,
  ): { remaining: number; resetSeconds: number; limited: boolean } {
    const now = this.now();
    if (now - this.windowStart >= limits.windowSeconds * 1000) {
      this.windowStart = now;
      this.counts = { api: 0, resolvers: 0 };
    }
    const used = ++this.counts[resource];
    const resetSeconds = Math.max(1, Math.ceil((this.windowStart + limits.windowSeconds * 1000 - now) / 1000));
    return { remaining: Math.max(0, limits[resource] - used), resetSeconds, limited: used > limits[resource] };
  }

  clear(): void {
    this.windowStart = 0;
    this.counts = { api: 0, resolvers: 0 };
  }
}

/** Sends `RateLimit`/`RateLimit-Policy` on every Hub answer; answers 429 + `Retry-After` over the limit. */
function applyRateLimit(ctx: RequestContext, state: ServerState): boolean {
  if (ctx.endpoint === 'other') return true;
  const resource = resourceOf(ctx.endpoint);
  const limits = state.config.rateLimits;
  const hit = state.limiter.hit(resource, limits);
  ctx.res.setHeader('RateLimit', `"${resource}";r=${hit.remaining};t=${hit.resetSeconds}`);
  ctx.res.setHeader('RateLimit-Policy', `"fixed window";"${resource}";q=${limits[resource]};w=${limits.windowSeconds}`);
  if (!hit.limited) return true;
  void sendHubError(ctx, {
    status: 429,
    message: 'Too Many Requests',
    headers: { 'Retry-After': String(hit.resetSeconds) },
  });
  return false;
}

async function serveCdn(
  req: IncomingMessage,
  res: ServerResponse,
  app: { deps: ResolveDeps; state: ServerState },
): Promise<void> {
  const ctx = newContext(req, res, 'cdn');
  ctx.path = ctx.query.get('path') ?? undefined;
  const m = /^\/repos\/([^/]+\/[^/]+)\//.exec(ctx.rawPath);
  ctx.repo = m?.[1];
  logWhenDone(ctx, app.state.log);
  ctx.fault = app.state.faults.take({
    endpoint: 'cdn',
    method: ctx.method,
    repo: ctx.repo,
    path: ctx.path,
    range: req.headers.range !== undefined,
  });
  if (await applyEarlyFault(ctx, ctx.fault)) return;
  await handleCdn(ctx, app.deps);
}

const ConfigPatch = HubConfig.partial().extend({ rateLimits: RateLimits.partial().optional() });

/**
 * Admin API (not logged, not faulted): `GET health`, `GET stats?since=`, `GET requests?since=&endpoint=`,
 * `GET|POST|DELETE faults`, `DELETE faults/{id}`, `GET|PATCH config`, `POST reset`.
 */
async function serveAdmin(ctx: RequestContext, state: ServerState): Promise<void> {
  const action = `${ctx.method} ${ctx.rawPath.replace(/^\/_admin\/?/, '')}`;
  const handler = ADMIN_ROUTES[action];
  if (handler) return handler(ctx, state);
  const del = /^DELETE faults\/(\d+)$/.exec(action);
  if (del) return sendJson(ctx, 200, { removed: state.faults.remove(Number(del[1])) });
  return sendJson(ctx, 404, { error: `no admin route ${action}` });
}

const sinceOf = (ctx: RequestContext): number => Number(ctx.query.get('since') ?? 0);

/** The admin API's fixed routes, by `METHOD path`. */
const ADMIN_ROUTES: Record<string, (ctx: RequestContext, state: ServerState) => Promise<void>> = {
  'GET health': (ctx) => sendJson(ctx, 200, { ok: true }),
  'GET stats': (ctx, state) => sendJson(ctx, 200, state.log.stats(sinceOf(ctx))),
  'GET requests': (ctx, state) => {
    const endpoint = HubEndpoint.optional().parse(ctx.query.get('endpoint') ?? undefined);
    return sendJson(ctx, 200, state.log.list({ since: sinceOf(ctx), endpoint }));
  },
  'GET faults': (ctx, state) => sendJson(ctx, 200, state.faults.list()),
  'POST faults': adminAddFault,
  'DELETE faults': (ctx, state) => (state.faults.clear(), sendJson(ctx, 200, { ok: true })),
  'GET config': (ctx, state) => sendJson(ctx, 200, state.config),
  'PATCH config': adminPatchConfig,
  'POST reset': (ctx, state) => (state.server?.reset(), sendJson(ctx, 200, { ok: true })),
};

async function adminAddFault(ctx: RequestContext, state: ServerState): Promise<void> {
  try {
    const id = state.faults.add(JSON.parse(await readBody(ctx.req)));
    await sendJson(ctx, 200, { id });
  } catch (err) {
    await sendJson(ctx, 400, { error: String(err) });
  }
}

async function adminPatchConfig(ctx: RequestContext, state: ServerState): Promise<void> {
  try {
    const patch = ConfigPatch.parse(JSON.parse(await readBody(ctx.req)));
    state.config = {
      ...state.config,
      ...patch,
      rateLimits: { ...state.config.rateLimits, ...patch.rateLimits },
    } as HubConfig;
    await sendJson(ctx, 200, state.config);
  } catch (err) {
    await sendJson(ctx, 400, { error: String(err) });
  }
}
