import { addSecretValues } from '../log/create-logger.js';
import { hubErrorFromResponse } from './hub-error.js';

/** How to reach a Hub: `HF_ENDPOINT` and `HF_TOKEN`, as huggingface_hub reads them. */
export interface HubAccess {
  /** e.g. `https://huggingface.co` (no trailing slash) */
  hubUrl: string;
  /** sent as `Authorization: Bearer` to the Hub origin only, never to a CDN redirect; never logged */
  token?: string | undefined;
  /** @default globalThis.fetch */
  fetch?: typeof fetch;
  /** sent as User-Agent @default 'modelctl' */
  userAgent?: string;
  /** aborts every request made with this access (SIGTERM), besides each request's own timeout */
  signal?: AbortSignal | undefined;
}

/**
 * A `fetch` for Hub API calls: adds the token only for the Hub's own origin, follows no redirect to
 * another origin with it, and turns a non-2xx answer into a {@link HubError} (with `X-Error-Code` and
 * `Retry-After`) before the caller sees it. Any token is sent as is, including tokens that do not start with
 * `hf_` (test Hubs, enterprise tokens).
 */
export function createHubFetch(access: HubAccess, what: string): typeof fetch {
  const base = access.fetch ?? globalThis.fetch;
  const origin = new URL(access.hubUrl).origin;
  // whatever a Hub echoes back (error codes, messages) is scrubbed of the token by value, whatever its prefix
  addSecretValues([access.token]);
  return async (input, init) => {
    const url = new URL(input instanceof Request ? input.url : String(input));
    const headers = new Headers(init?.headers);
    headers.set('user-agent', access.userAgent ?? 'modelctl');
    if (url.origin === origin && access.token) headers.set('authorization', `Bearer ${access.token}`);
    else headers.delete('authorization');
    const res = await base(
      url,
      withSignal({ ...init, headers, redirect: url.origin === origin ? 'follow' : 'manual' }, access.signal),
    );
    if (!res.ok) {
      await res.body?.cancel().catch(() => undefined);
      throw hubErrorFromResponse({ status: res.status, headers: res.headers, what });
    }
    return res;
  };
}

/** `init` whose signal also aborts when `extra` does. */
function withSignal(init: RequestInit, extra: AbortSignal | undefined): RequestInit {
  const signals = [init.signal, extra].filter((x): x is AbortSignal => x != null);
  if (signals.length === 0) return init;
  return { ...init, signal: signals.length > 1 ? AbortSignal.any(signals) : signals[0]! };
}
