import { Counter, Gauge, type Registry } from 'prom-client';
import type { CleanupSummary } from './run-cleanup.js';

/** The cleanup function's metrics (`modelctl_cleanup_*`). */
export interface CleanupMetrics {
  runs: Counter<'outcome' | 'dry_run'>;
  removedEntries: Counter<'reason' | 'dry_run'>;
  removedBytes: Counter<'dry_run'>;
  cacheBytes: Gauge;
  keptEntries: Gauge<'reason'>;
}

export function createCleanupMetrics(registry: Registry): CleanupMetrics {
  const registers = [registry];
  return {
    runs: new Counter({
      name: 'modelctl_cleanup_runs_total',
      help: 'Cleanup passes, by outcome (ok, failed) and dry run',
      labelNames: ['outcome', 'dry_run'] as const,
      registers,
    }),
    removedEntries: new Counter({
      name: 'modelctl_cleanup_removed_entries_total',
      help: 'Cache entries removed (dry run: that would have been), by reason (ttl, lru)',
      labelNames: ['reason', 'dry_run'] as const,
      registers,
    }),
    removedBytes: new Counter({
      name: 'modelctl_cleanup_removed_bytes_total',
      help: 'Bytes freed in the shared cache (dry run: that would have been)',
      labelNames: ['dry_run'] as const,
      registers,
    }),
    cacheBytes: new Gauge({
      name: 'modelctl_cleanup_cache_bytes',
      help: 'Size of the shared cache entries after the last pass',
      registers,
    }),
    keptEntries: new Gauge({
      name: 'modelctl_cleanup_kept_entries',
      help: 'Entries kept by the last pass, by reason (in-use, locked, recent, under-limit)',
      labelNames: ['reason'] as const,
      registers,
    }),
  };
}

/** Records one finished pass. */
export function observeCleanup(metrics: CleanupMetrics, summary: CleanupSummary): void {
  const dryRun = String(summary.dryRun);
  metrics.runs.inc({ outcome: 'ok', dry_run: dryRun });
  for (const r of summary.removed) metrics.removedEntries.inc({ reason: r.reason, dry_run: dryRun });
  metrics.removedBytes.inc({ dry_run: dryRun }, summary.bytesRemoved);
  metrics.cacheBytes.set(summary.dryRun ? summary.bytesBefore : summary.bytesAfter);
  metrics.keptEntries.reset();
  for (const k of summary.kept) metrics.keptEntries.inc({ reason: k.reason });
}
