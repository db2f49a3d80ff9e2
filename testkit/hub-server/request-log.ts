import type { HubEndpoint } from './faults.js';

/** One request the server answered (admin requests are not logged). */
export interface LoggedRequest {
  /** increasing sequence number: pass it as `since` to count only later requests */
  seq: number;
  method: string;
  /** path + query as received */
  url: string;
  endpoint: HubEndpoint;
  repo?: string | undefined;
  /** file path inside the repo (resolve, cdn) */
  path?: string | undefined;
  status: number;
  /** body bytes actually written to the socket */
  bytes: number;
  /** whether the request carried an `Authorization` header (must never be true for `cdn`) */
  authorization: boolean;
  range?: string | undefined;
  /** the fault applied, if any */
  fault?: string | undefined;
  /** the connection was cut before the full body was sent */
  aborted: boolean;
}

/** Per-endpoint totals over a window of the log. */
export interface HubStats {
  /** sequence number of the last logged request (use as the next `since`) */
  lastSeq: number;
  requests: number;
  bytes: number;
  byEndpoint: Partial<Record<HubEndpoint, { requests: number; bytes: number; byStatus: Record<string, number> }>>;
  /** requests to the CDN that carried an Authorization header: a client leaking its token off the Hub */
  cdnRequestsWithAuthorization: number;
}

const MAX_ENTRIES = 200_000;

/** The server's request log and counters. */
export class RequestLog {
  private entries: LoggedRequest[] = [];
  private seq = 0;

  add(entry: Omit<LoggedRequest, 'seq'>): LoggedRequest {
    const logged = { seq: ++this.seq, ...entry };
    this.entries.push(logged);
    if (this.entries.length > MAX_ENTRIES) this.entries.splice(0, this.entries.length - MAX_ENTRIES);
    return logged;
  }

  get lastSeq(): number {
    return this.seq;
  }

  /** Requests logged after `since` (a previous `lastSeq`), optionally one endpoint's. */
  list(filter: { since?: number; endpoint?: HubEndpoint | undefined } = {}): LoggedRequest[] {
    const since = filter.since ?? 0;
    return this.entries.filter((e) => e.seq > since && (!filter.endpoint || e.endpoint === filter.endpoint));
  }

  stats(since = 0): HubStats {
    const stats: HubStats = {
      lastSeq: this.seq,
      requests: 0,
      bytes: 0,
      byEndpoint: {},
      cdnRequestsWithAuthorization: 0,
    };
    for (const e of this.list({ since })) {
      stats.requests++;
      stats.bytes += e.bytes;
      const ep = (stats.byEndpoint[e.endpoint] ??= { requests: 0, bytes: 0, byStatus: {} });
      ep.requests++;
      ep.bytes += e.bytes;
      ep.byStatus[String(e.status)] = (ep.byStatus[String(e.status)] ?? 0) + 1;
      if (e.endpoint === 'cdn' && e.authorization) stats.cdnRequestsWithAuthorization++;
    }
    return stats;
  }

  clear(): void {
    this.entries = [];
  }
}
