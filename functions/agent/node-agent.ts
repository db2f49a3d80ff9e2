import { mkdir } from 'node:fs/promises';
import path from 'node:path';
import { setTimeout as delay } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { ModelsConfig } from '../../shared/config/models-config.js';
import { BYTES_PER_GB } from '../../shared/disk/byte-units.js';
import { DiskGuard, type FreeBytes } from '../../shared/disk/disk-guard.js';
import type { HubRetryPolicy } from '../../shared/hub/with-hub-retry.js';
import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import type { NodeLabels } from '../../shared/k8s/node-labels.js';
import type { RecordEvent } from '../../shared/k8s/record-event.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { Plan } from '../../shared/plan/plan.js';
import type { AgentMetrics } from './agent-metrics.js';
import { evictOneForSpace, recordLastUsed } from './evict-for-space.js';
import { evictUnwanted } from './evict-unwanted.js';
import type { ModelState } from './model-state.js';
import {
  publishDownloadProgress,
  publishNodeStatus,
  type DownloadProgress,
  type NodeSummary,
} from './publish-node-status.js';
import { runFillPass, type FillContext } from './run-fill-pass.js';
import { targetsFromConfig, targetsFromPlan, type FillTarget } from './fill-target.js';

/** Bytes of a target's files when the plan listed them, else 0 (listed only at download). */
function sumSizes(target: FillTarget): number {
  return target.files?.reduce((n, f) => n + f.size, 0) ?? 0;
}

/** The settings every source carries (the models config minus its models). */
type Settings = Pick<
  ModelsConfig,
  'nodeHostPath' | 'cachePath' | 'checkIntervalSeconds' | 'configReadRetryDelaySeconds' | 'minFreeSpaceGB'
>;

/** The agent's inputs: the plan wins, then the raw models ConfigMap, then a local file. */
export interface AgentInputs {
  plan: Plan | null;
  configMap: ModelsConfig | null;
  file: ModelsConfig | null;
}

export interface NodeAgentDeps {
  nodeName: string;
  /** the Node's GPU types (from its labels or `--gpu-type`); empty: only `["ALL"]` models */
  gpuTypes: string[];
  access: HubAccess;
  /** `HF_HUB_CACHE` when set; else `<nodeHostPath>/<cachePath>` of the current settings */
  cacheDirOverride?: string | undefined;
  stateDirOverride?: string | undefined;
  concurrency: number;
  evictionGraceSeconds: number;
  labelPrefix: string;
  nodes: NodeLabels;
  recordEvent: RecordEvent;
  /** namespace the Node's Events are recorded in */
  eventNamespace: string;
  metrics: AgentMetrics;
  retry?: HubRetryPolicy | undefined;
  freeBytes?: FreeBytes | undefined;
  /**
   * `repo@commit` of the snapshots Ready pods on this node serve (list-serving-pods.ts); they are never evicted.
   * Absent: no pod knowledge (`--once`), eviction by the plan and grace period only, none for space.
   */
  listServing?: (() => Promise<ReadonlySet<string>>) | undefined;
  /** how often a pass publishes per-model download progress on the Node @default 10000 */
  progressIntervalMs?: number | undefined;
  log: Logger;
  now?: () => Date;
}

/**
 * The DaemonSet's engine: on every input change (applied at once, aborting a pass in progress — partial
 * files stay resumable) and every `checkIntervalSeconds` (re-verifying hashes on disk), it runs the fill pass
 * (this node's models brought to ready in its cache), evicts what left the plan after the grace period, and publishes labels, annotation, Events, metrics.
 */
export class NodeAgent {
  private inputs: AgentInputs = { plan: null, configMap: null, file: null };
  private readonly deps: NodeAgentDeps;
  private wake: (() => void) | undefined;
  private dirty = true;
  private pass: AbortController | undefined;
  private lastStates = new Map<string, ModelState>();
  /** passes in a row that ended with a transient failure (Hub down past the retries, a full disk) */
  private transientStreak = 0;
  private readonly limit;

  constructor(deps: NodeAgentDeps) {
    this.deps = deps;
    this.limit = pLimit(deps.concurrency);
  }

  /** Replaces one input and starts a new pass within moments (the running one is aborted). */
  setInput<K extends keyof AgentInputs>(key: K, value: AgentInputs[K]): void {
    this.inputs = { ...this.inputs, [key]: value };
    this.dirty = true;
    this.pass?.abort(new Error('input changed'));
    this.wake?.();
  }

  /** The settings in force (plan, else ConfigMap, else file), or null when there is no input at all. */
  settings(): Settings | null {
    return this.inputs.plan?.settings ?? this.inputs.configMap ?? this.inputs.file;
  }

  /** Runs passes until `signal` aborts: on input changes, and every `checkIntervalSeconds`. */
  async run(signal: AbortSignal): Promise<void> {
    let verify = false;
    while (!signal.aborted) {
      this.dirty = false;
      const settings = this.settings();
      if (settings) await this.runPass(settings, verify, signal);
      if (this.dirty) continue;
      const intervalMs = (settings?.checkIntervalSeconds ?? 60) * 1000;
      verify = await this.sleep(this.nextWaitMs(intervalMs), signal);
    }
  }

  /**
   * The interval, or sooner after a transient failure: 30 s doubling up to the interval, with full jitter so a
   * fleet that saw the same outage does not come back at once. Permanent failures (gated, 401, 404) wait for
   * the interval or a config change.
   */
  private nextWaitMs(intervalMs: number): number {
    if (this.transientStreak === 0) return intervalMs;
    const ceiling = Math.min(intervalMs, 30_000 * 2 ** (this.transientStreak - 1));
    return Math.max(1000, Math.floor(Math.random() * ceiling));
  }

  /** @returns true when the interval elapsed (then the next pass re-hashes), false when woken by a change */
  private async sleep(ms: number, signal: AbortSignal): Promise<boolean> {
    const woken = new Promise<false>((resolve) => (this.wake = () => resolve(false)));
    const timer = delay(ms, true as const, { signal }).catch(() => false as const);
    const result = await Promise.race([woken, timer]);
    this.wake = undefined;
    return result;
  }

  private async runPass(settings: Settings, verifyHashes: boolean, signal: AbortSignal): Promise<void> {
    const pass = new AbortController();
    this.pass = pass;
    const abortPass = (): void => pass.abort(signal.reason);
    signal.addEventListener('abort', abortPass, { once: true });
    try {
      const cacheDir = this.deps.cacheDirOverride ?? path.join(settings.nodeHostPath, settings.cachePath);
      const stateDir = this.deps.stateDirOverride ?? path.join(path.dirname(path.resolve(cacheDir)), '.modelctl-agent');
      await mkdir(cacheDir, { recursive: true });
      const { targets, unresolved } = this.targets();
      const diskGuard = new DiskGuard({
        dir: cacheDir,
        minFreeBytes: settings.minFreeSpaceGB * BYTES_PER_GB,
        ...(this.deps.freeBytes ? { freeBytes: this.deps.freeBytes } : {}),
      });
      const ctx = {
        access: this.deps.access,
        cacheDir,
        stateDir,
        diskGuard,
        limit: this.limit,
        retry: this.deps.retry,
        metrics: this.deps.metrics,
        verifyHashes,
        signal: pass.signal,
        log: this.deps.log,
      };
      const inUse = await this.servingSnapshots(stateDir);
      const progress = this.trackProgress();
      const fillCtx = { ...ctx, onModelBytes: progress.onModelBytes };
      let states: ModelState[];
      try {
        states = await this.makeRoomAndRetry(fillCtx, targets, await runFillPass(fillCtx, targets), inUse);
      } finally {
        progress.stop();
      }
      if (pass.signal.aborted) return;
      const all = [...states, ...unresolved];
      const transient = states.some((st) => st.state !== 'ready' && st.permanent !== true);
      this.transientStreak = transient ? this.transientStreak + 1 : 0;
      await this.report(all, { cacheDir, freeBytes: await diskGuard.freeBytesNow().catch(() => null) });
      await evictUnwanted({
        cacheDir,
        stateDir,
        states: all,
        graceSeconds: this.deps.evictionGraceSeconds,
        ...(inUse === undefined ? {} : { inUse }),
        now: this.now(),
        log: this.deps.log,
      });
    } catch (err) {
      this.deps.log.error({ err }, 'agent pass failed');
    } finally {
      signal.removeEventListener('abort', abortPass);
      this.pass = undefined;
    }
  }

  /**
   * Per-model download progress (bytes done / total, rate), published on the Node every `progressIntervalMs`
   * while the pass downloads.
   */
  private trackProgress(): { onModelBytes: (t: FillTarget, bytes: number, seconds: number) => void; stop: () => void } {
    const downloading = new Map<string, DownloadProgress>();
    const totals = new Map<FillTarget, number>();
    let changed = false;
    const timer = setInterval(() => {
      if (!changed) return;
      changed = false;
      publishDownloadProgress({
        nodes: this.deps.nodes,
        nodeName: this.deps.nodeName,
        downloading: [...downloading.values()],
        now: this.now(),
      }).catch((err: unknown) => this.deps.log.warn({ err }, 'download progress not published'));
    }, this.deps.progressIntervalMs ?? 10_000);
    timer.unref();
    return {
      onModelBytes: (target, bytes, seconds) => {
        downloading.set(`${target.repo}@${target.revision}`, {
          repo: target.repo,
          revision: target.revision,
          bytesDone: bytes,
          totalBytes: totals.get(target) ?? totals.set(target, sumSizes(target)).get(target)!,
          bytesPerSecond: seconds > 0 ? Math.round(bytes / seconds) : 0,
        });
        changed = true;
      },
      stop: () => clearInterval(timer),
    };
  }

  /** What Ready pods on the node serve (recorded as their last use); null when the pods could not be listed. */
  private async servingSnapshots(stateDir: string): Promise<ReadonlySet<string> | null | undefined> {
    if (!this.deps.listServing) return undefined;
    try {
      const inUse = await this.deps.listServing();
      await recordLastUsed(stateDir, inUse, this.now());
      return inUse;
    } catch (err) {
      this.deps.log.warn({ err }, 'serving pods not listed: nothing is evicted this pass');
      return null;
    }
  }

  /**
   * Disk pressure: for each model the disk guard skipped, evicts the least recently used snapshot the agent owns
   * that no Ready pod here serves, and tries the model again, until it fits or nothing more may go.
   */
  private async makeRoomAndRetry(
    ctx: FillContext,
    targets: readonly FillTarget[],
    states: ModelState[],
    inUse: ReadonlySet<string> | null | undefined,
  ): Promise<ModelState[]> {
    if (!inUse) return states;
    const out = [...states];
    const targeted = new Set(
      [
        ...targets.map((t) => t.commit && `${t.repo}@${t.commit}`),
        ...out.map((s) => s.commit && `${s.repo}@${s.commit}`),
      ].filter((k): k is string => typeof k === 'string' && k !== ''),
    );
    for (let i = 0; i < out.length; i++) {
      const target = targets[i]!;
      const protectedKeys = new Set(target.commit ? [`${target.repo}@${target.commit}`] : []);
      while (out[i]!.state === 'skipped' && out[i]!.errorCode === 'NO_SPACE' && !ctx.signal?.aborted) {
        const evicted = await evictOneForSpace({ ...ctx, inUse, targeted, protectedKeys });
        if (evicted === null) break;
        out[i] = (await runFillPass(ctx, [target]))[0]!;
      }
    }
    return out;
  }

  private targets(): { targets: FillTarget[]; unresolved: ModelState[] } {
    const gpuTypes = this.deps.gpuTypes;
    const { plan, configMap, file } = this.inputs;
    if (plan) {
      const { targets, unresolved } = targetsFromPlan(plan, gpuTypes);
      const at = this.now().toISOString();
      const failed = unresolved.map((m): ModelState => ({
        repo: m.repo,
        revision: m.revision,
        commit: null,
        state: 'failed',
        bytes: 0,
        files: 0,
        errorCode: `PLAN_${m.status.toUpperCase().replace(/-/g, '_')}`,
        lastError: m.message ?? m.status,
        permanent: m.status !== 'error',
        updatedAt: at,
      }));
      return { targets, unresolved: failed };
    }
    const config = configMap ?? file;
    return { targets: config ? targetsFromConfig(config, gpuTypes) : [], unresolved: [] };
  }

  private source(): NodeSummary['source'] {
    if (this.inputs.plan) return 'plan';
    if (this.inputs.configMap) return 'configmap';
    return this.inputs.file ? 'file' : 'none';
  }

  private async report(states: ModelState[], where: { cacheDir: string; freeBytes: number | null }): Promise<void> {
    const { metrics, log } = this.deps;
    for (const state of ['ready', 'failed', 'skipped', 'pending'] as const)
      metrics.models.set({ state }, states.filter((s) => s.state === state).length);
    if (where.freeBytes !== null) metrics.freeBytes.set(where.freeBytes);
    await this.recordFailures(states);
    const summary: NodeSummary = {
      gpuTypes: this.deps.gpuTypes,
      cacheDir: where.cacheDir,
      freeBytes: where.freeBytes,
      source: this.source(),
      planHash: this.inputs.plan?.contentHash,
    };
    try {
      const labels = await publishNodeStatus({
        nodes: this.deps.nodes,
        nodeName: this.deps.nodeName,
        prefix: this.deps.labelPrefix,
        states,
        summary,
        now: this.now(),
      });
      log.info({ ready: labels.length, models: states.length, source: summary.source }, 'node status published');
    } catch (err) {
      log.error({ err }, 'node status not published');
    }
  }

  /** A Warning Event on the Node for each model that newly failed or failed differently. */
  private async recordFailures(states: readonly ModelState[]): Promise<void> {
    const previous = this.lastStates;
    this.lastStates = new Map(states.map((s) => [`${s.repo}@${s.revision}`, s]));
    for (const s of states) {
      if (s.state === 'ready' || s.state === 'pending') continue;
      const before = previous.get(`${s.repo}@${s.revision}`);
      if (before && before.state === s.state && before.errorCode === s.errorCode) continue;
      await this.deps
        .recordEvent({
          involved: { apiVersion: 'v1', kind: 'Node', name: this.deps.nodeName, namespace: this.deps.eventNamespace },
          type: 'Warning',
          reason: s.state === 'skipped' ? 'ModelSkipped' : 'ModelWarmFailed',
          message: `${s.repo}@${s.revision}: ${s.errorCode ?? 'failed'}: ${s.lastError ?? ''}`,
        })
        .catch((err: unknown) => this.deps.log.warn({ err }, 'event not recorded'));
    }
  }

  private now(): Date {
    return (this.deps.now ?? (() => new Date()))();
  }
}
