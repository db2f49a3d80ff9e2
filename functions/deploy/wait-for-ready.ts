import { AppError } from '../../shared/errors/app-error.js';
import type { KubeConfig } from '../../shared/k8s/load-kube-config.js';
import { readObject, type ObjectRef } from '../../shared/k8s/apply-object.js';

/** A Knative condition as it appears in `status.conditions`. */
interface Condition {
  type?: string;
  status?: string;
  reason?: string;
  message?: string;
}

/** The part of a Knative Service's status we read. */
interface ServiceStatus {
  url?: string;
  observedGeneration?: number;
  conditions?: Condition[];
  latestReadyRevisionName?: string;
}

/**
 * Polls a Knative Service until its `Ready` condition is True for the current generation.
 * @returns the Service's URL (`status.url`)
 * @throws AppError `SERVICE_FAILED` when Ready turns False (with Knative's reason and message),
 *   `WAIT_TIMEOUT` after `timeoutMs` (with the last condition seen)
 */
export async function waitForReady(params: {
  kubeConfig: KubeConfig;
  ref: ObjectRef;
  timeoutMs: number;
  /** @default 2000 */
  intervalMs?: number;
  /** injected in tests */
  sleep?: (ms: number) => Promise<void>;
  now?: () => number;
}): Promise<string> {
  const sleep = params.sleep ?? ((ms: number) => new Promise<void>((resolve) => setTimeout(resolve, ms)));
  const now = params.now ?? Date.now;
  const deadline = now() + params.timeoutMs;
  let last = 'no status yet (is the Knative Serving controller running?)';
  for (;;) {
    const service = await readObject({ kubeConfig: params.kubeConfig, ref: params.ref });
    if (service === null)
      throw new AppError({
        code: 'NOT_FOUND',
        statusCode: 404,
        message: `${params.ref.kind} ${params.ref.namespace}/${params.ref.name} disappeared while waiting`,
      });
    const verdict = readiness(service as { metadata?: { generation?: number }; status?: ServiceStatus });
    if (verdict.ready) return verdict.url;
    if (verdict.failed) {
      throw new AppError({
        code: 'SERVICE_FAILED',
        statusCode: 500,
        message: `${params.ref.name} is not ready: ${verdict.detail}`,
      });
    }
    last = verdict.detail ?? last;
    if (now() >= deadline) {
      throw new AppError({
        code: 'WAIT_TIMEOUT',
        statusCode: 504,
        message: `${params.ref.name} not ready after ${Math.round(params.timeoutMs / 1000)} s: ${last}`,
      });
    }
    await sleep(params.intervalMs ?? 2000);
  }
}

type Verdict = { ready: true; url: string } | { ready: false; failed: boolean; detail: string | undefined };

/**
 * Ready only when the controller has seen the current generation (else the condition is about the old spec).
 * When Ready is False, the detail is the first False condition that says why: a Revision that cannot start leaves
 * Ready at `RevisionMissing` ("does not have any ready Revision") and puts the reason (e.g. the scheduler's
 * "Insufficient cpu") on ConfigurationsReady.
 */
export function readiness(service: { metadata?: { generation?: number }; status?: ServiceStatus }): Verdict {
  const status = service.status ?? {};
  const ready = isCurrent(service.metadata?.generation, status) ? readyCondition(status) : undefined;
  if (ready === undefined) return { ready: false, failed: false, detail: undefined };
  if (ready.status === 'True') {
    return status.url
      ? { ready: true, url: status.url }
      : { ready: false, failed: false, detail: 'Ready but no URL yet' };
  }
  const failed = ready.status === 'False';
  const why = failed ? whyFailed(status.conditions ?? [], ready) : ready;
  return {
    ready: false,
    failed,
    detail: [why.reason, why.message].filter(Boolean).join(': ') || `Ready=${ready.status}`,
  };
}

function isCurrent(generation: number | undefined, status: ServiceStatus): boolean {
  return status.observedGeneration !== undefined && status.observedGeneration === generation;
}

function readyCondition(status: ServiceStatus): Condition | undefined {
  return status.conditions?.find((c) => c.type === 'Ready');
}

/** ConfigurationsReady when it is False too (it carries the Revision's failure), else Ready itself. */
function whyFailed(conditions: Condition[], ready: Condition): Condition {
  return conditions.find((c) => c.type === 'ConfigurationsReady' && c.status === 'False') ?? ready;
}
