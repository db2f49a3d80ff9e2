import { Counter, Gauge, Histogram, type Registry } from 'prom-client';

/** The warm function's metrics (`modelctl_warm_*`). */
export interface WarmMetrics {
  events: Counter<'type' | 'outcome'>;
  hubRequests: Counter<'endpoint'>;
  publishes: Counter<'action'>;
  models: Gauge<'status'>;
  planBytes: Gauge;
  duration: Histogram<'type'>;
}

export function createWarmMetrics(registry: Registry): WarmMetrics {
  const registers = [registry];
  return {
    events: new Counter({
      name: 'modelctl_warm_events_total',
      help: 'CloudEvents handled, by type and outcome (planned, unchanged, rejected, kept, refused)',
      labelNames: ['type', 'outcome'] as const,
      registers,
    }),
    hubRequests: new Counter({
      name: 'modelctl_warm_hub_requests_total',
      help: 'Hub API requests made to resolve models, by endpoint (revision, tree, resolve)',
      labelNames: ['endpoint'] as const,
      registers,
    }),
    publishes: new Counter({
      name: 'modelctl_warm_plan_publishes_total',
      help: 'Plan publications, by action (created, updated, unchanged)',
      labelNames: ['action'] as const,
      registers,
    }),
    models: new Gauge({
      name: 'modelctl_warm_plan_models',
      help: 'Models in the plan in force, by status',
      labelNames: ['status'] as const,
      registers,
    }),
    planBytes: new Gauge({
      name: 'modelctl_warm_plan_model_bytes',
      help: 'Sum of the sizes of every ok model of the plan in force',
      registers,
    }),
    duration: new Histogram({
      name: 'modelctl_warm_event_duration_seconds',
      help: 'Time to handle one CloudEvent, by type',
      labelNames: ['type'] as const,
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120],
      registers,
    }),
  };
}
