import type { FaultRule } from './faults.js';
import type { HubConfig } from './hub-server.js';
import type { HubStats, LoggedRequest } from './request-log.js';
import type { HubEndpoint } from './faults.js';

/** Client of the local Hub's admin API (`run.info.hub.adminUrl`), for tests in any process. */
export class HubAdmin {
  private readonly adminUrl: string;

  constructor(adminUrl: string) {
    this.adminUrl = adminUrl.replace(/\/$/, '');
  }

  private async call<T>(method: string, route: string, body?: unknown): Promise<T> {
    const res = await fetch(`${this.adminUrl}/${route}`, {
      method,
      ...(body === undefined ? {} : { body: JSON.stringify(body), headers: { 'Content-Type': 'application/json' } }),
    });
    const json = (await res.json()) as T;
    if (!res.ok) throw new Error(`hub admin ${method} ${route}: ${res.status} ${JSON.stringify(json)}`);
    return json;
  }

  /** Adds a fault rule; returns its id. */
  async addFault(rule: FaultRule): Promise<number> {
    return (await this.call<{ id: number }>('POST', 'faults', rule)).id;
  }

  async removeFault(id: number): Promise<void> {
    await this.call('DELETE', `faults/${id}`);
  }

  /** The rules with how often each matched (`seen`) and acted (`applied`). */
  async faults(): Promise<{ id: number; rule: FaultRule; seen: number; applied: number }[]> {
    return this.call('GET', 'faults');
  }

  async clearFaults(): Promise<void> {
    await this.call('DELETE', 'faults');
  }

  /** Current position of the request log: pass it as `since` to count only what follows. */
  async mark(): Promise<number> {
    return (await this.stats()).lastSeq;
  }

  async stats(since = 0): Promise<HubStats> {
    return this.call('GET', `stats?since=${since}`);
  }

  async requests(filter: { since?: number; endpoint?: HubEndpoint } = {}): Promise<LoggedRequest[]> {
    const q = new URLSearchParams({ since: String(filter.since ?? 0) });
    if (filter.endpoint) q.set('endpoint', filter.endpoint);
    return this.call('GET', `requests?${q.toString()}`);
  }

  async config(): Promise<HubConfig> {
    return this.call('GET', 'config');
  }

  /** Changes settings at runtime (page size, CDN URL lifetime, rate limits); returns the new config. */
  async setConfig(
    patch: Partial<Omit<HubConfig, 'rateLimits'>> & { rateLimits?: Partial<HubConfig['rateLimits']> },
  ): Promise<HubConfig> {
    return this.call('PATCH', 'config', patch);
  }

  /** Clears faults and rate-limit counters, restores the start config (the request log is kept). */
  async reset(): Promise<void> {
    await this.call('POST', 'reset');
  }
}
