import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The agent's Prometheus metrics (`modelctl_agent_*`). */
export interface AgentMetrics {
  downloadBytes: Counter;
  models: Gauge<'state'>;
  freeBytes: Gauge;
  downloadDuration: Histogram<'outcome'>;
  failures: Counter<'code'>;
}

/** Registers the agent's metrics on `registry`. */
export function createAgentMetrics(registry: Registry): AgentMetrics {
  return {
    downloadBytes: new Counter({
      name: 'modelctl_agent_download_bytes_total',
      help: 'Bytes written to the cache from the Hub',
      registers: [registry],
    }),
    models: new Gauge({
      name: 'modelctl_agent_models',
      help: 'Models of this node by state (ready, failed, skipped, pending)',
      labelNames: ['state'] as const,
      registers: [registry],
    }),
    freeBytes: new Gauge({
      name: 'modelctl_agent_cache_free_bytes',
      help: 'Free bytes on the filesystem of the cache',
      registers: [registry],
    }),
    downloadDuration: new Histogram({
      name: 'modelctl_agent_model_download_duration_seconds',
      help: 'Time to bring one model to ready (or to fail), by outcome',
      labelNames: ['outcome'] as const,
      buckets: [0.1, 0.5, 1, 5, 15, 30, 60, 120, 300, 600, 1200, 3600],
      registers: [registry],
    }),
    failures: new Counter({
      name: 'modelctl_agent_model_failures_total',
      help: 'Model warm failures by error code',
      labelNames: ['code'] as const,
      registers: [registry],
    }),
  };
}
