import { Registry, collectDefaultMetrics } from 'prom-client';

/**
 * A fresh prom-client registry for one role, with the process metrics (`modelctl_process_*`,
 * `modelctl_nodejs_*`). One registry per role instance so tests can run several side by side.
 */
export function createMetricsRegistry(role: string): Registry {
  const registry = new Registry();
  registry.setDefaultLabels({ role });
  collectDefaultMetrics({ register: registry, prefix: 'modelctl_' });
  return registry;
}
