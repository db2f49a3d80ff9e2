import { Agent, request, type Dispatcher } from 'undici';
import type { KubeRequest, KubeRest, WatchEvent } from './kube-rest.js';
import type { KubeAccess } from './kube-rest-access.js';
import { KubeStatusError } from './kube-status-error.js';

const REQUEST_TIMEOUT_MS = 30_000;

/**
 * The agent's REST client, capability 2 of 2: JSON requests and watch streams over undici to the API server
 * `access` names (kube-rest-access.ts), headers read per request (tokens rotate).
 */
export function restClient(access: KubeAccess): KubeRest {
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
