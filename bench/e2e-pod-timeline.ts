// The timeline of one serving pod's cold start on the cluster (bench/cold-start-e2e.ts): what a pod watch sees
// (client clock, ms), what the pod's status records (kubelet clock, whole seconds), and what fetch's and serve's
// JSON logs say (pino `time`, ms). The node is this machine, so the three clocks are one.
import { KubeConfig, Watch } from '@kubernetes/client-node';
import { kubectl } from '../testkit/e2e/cluster.js';

/** Moments the watch saw first, in ms since the epoch. */
export interface Observed {
  pod_created?: number;
  scheduled?: number;
  init_running?: number;
  init_done?: number;
  server_running?: number;
  server_ready?: number;
  pod_ready?: number;
}

interface ContainerStatus {
  name: string;
  ready?: boolean;
  state?: { running?: { startedAt?: string }; terminated?: { startedAt?: string; finishedAt?: string } };
}
interface Pod {
  metadata: { name: string; creationTimestamp?: string; deletionTimestamp?: string };
  spec?: { nodeName?: string };
  status?: {
    conditions?: { type: string; status: string; lastTransitionTime?: string }[];
    initContainerStatuses?: ContainerStatus[];
    containerStatuses?: ContainerStatus[];
  };
}

const SERVER = 'model-server';

/**
 * Watches the pods of a Knative Service and records when the first pod that is not in `ignore` reaches each
 * stage. `stop()` ends the watch and returns the pod's name (null when none came) and what was seen.
 */
export async function watchNewPod(params: {
  kubeconfig: string;
  namespace: string;
  service: string;
  /** pods that existed before the request (terminating ones of the last start) */
  ignore: Set<string>;
}): Promise<{ stop: () => { pod: string | null; observed: Observed; last: Pod | null } }> {
  const kc = new KubeConfig();
  kc.loadFromFile(params.kubeconfig);
  const observed: Observed = {};
  let target: string | null = null;
  let last: Pod | null = null;
  const mark = (key: keyof Observed, when: number): void => {
    observed[key] ??= when;
  };
  let stopped = false;
  let ended: string | null = null;
  const controller = await new Watch(kc).watch(
    `/api/v1/namespaces/${params.namespace}/pods`,
    { labelSelector: `serving.knative.dev/service=${params.service}` },
    (type: string, pod: Pod) => {
      const now = Date.now();
      if (process.env.BENCH_E2E_DEBUG)
        console.error(`watch ${type} ${pod.metadata.name} ${JSON.stringify(stagesOf(pod))}`);
      if (params.ignore.has(pod.metadata.name) || pod.metadata.deletionTimestamp !== undefined) return;
      target ??= pod.metadata.name;
      if (pod.metadata.name !== target) return;
      last = pod;
      mark('pod_created', now);
      for (const key of stagesOf(pod)) mark(key, now);
    },
    (err: unknown) => {
      if (!stopped) ended = String(err ?? 'closed by the server');
    },
  );
  return {
    stop: () => {
      stopped = true;
      controller.abort();
      if (ended !== null) console.error(`pod watch of ${params.service} ended early: ${ended}`);
      return { pod: target, observed, last };
    },
  };
}

/** The stages a pod object shows it has reached. */
function stagesOf(pod: Pod): (keyof Observed)[] {
  const stages: (keyof Observed)[] = pod.spec?.nodeName ? ['scheduled'] : [];
  stages.push(...initStages(pod.status?.initContainerStatuses?.[0]));
  stages.push(...serverStages(serverStatus(pod)));
  if (pod.status?.conditions?.some((c) => c.type === 'Ready' && c.status === 'True')) stages.push('pod_ready');
  return stages;
}

function initStages(init: ContainerStatus | undefined): (keyof Observed)[] {
  if (init?.state?.terminated) return ['init_running', 'init_done'];
  return init?.state?.running ? ['init_running'] : [];
}

function serverStages(server: ContainerStatus | undefined): (keyof Observed)[] {
  const stages: (keyof Observed)[] = server?.state?.running ? ['server_running'] : [];
  if (server?.ready) stages.push('server_ready');
  return stages;
}

function serverStatus(pod: Pod | null): ContainerStatus | undefined {
  return pod?.status?.containerStatuses?.find((c) => c.name === SERVER);
}

const timeOf = (s: string | undefined): number | null => (s ? Date.parse(s) : null);

/** What the pod's status recorded (kubelet's clock, whole seconds), in ms since the epoch. */
export function recordedTimes(pod: Pod | null): Record<string, number | null> {
  const init = initTerminated(pod);
  const server = serverStatus(pod)?.state?.running;
  return {
    created: timeOf(pod?.metadata.creationTimestamp),
    scheduled: conditionTime(pod, 'PodScheduled'),
    init_started: timeOf(init?.startedAt),
    init_finished: timeOf(init?.finishedAt),
    server_started: timeOf(server?.startedAt),
    ready: conditionTime(pod, 'Ready'),
  };
}

function initTerminated(pod: Pod | null): { startedAt?: string; finishedAt?: string } | undefined {
  return pod?.status?.initContainerStatuses?.[0]?.state?.terminated;
}

/** When the pod's condition `type` last changed, ms since the epoch. */
function conditionTime(pod: Pod | null, type: string): number | null {
  return timeOf(pod?.status?.conditions?.find((c) => c.type === type)?.lastTransitionTime);
}

interface LogLine {
  time?: string;
  msg?: string;
  ms?: number | number[];
  source?: string;
  bytes?: number;
}

/** The JSON lines of a container's log (other lines skipped). */
async function jsonLog(namespace: string, pod: string, container: string): Promise<LogLine[]> {
  const text = await kubectl('logs', '-n', namespace, pod, '-c', container).catch(() => '');
  return text
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => {
      try {
        return JSON.parse(l) as LogLine;
      } catch {
        return {};
      }
    });
}

export interface LoggedTimes {
  /** fetch's first log line (ms since the epoch): its process already running */
  fetch_first_line: number | null;
  /** fetch's 'model ready' (ms since the epoch), its own duration and the source it used */
  fetch_ready: number | null;
  fetch_ms: number | null;
  fetch_source: string | null;
  /** serve's 'listening; loading model' and 'model ready' */
  serve_listening: number | null;
  serve_model_ready: number | null;
  /** serve's own load time (process start → model ready) and its warm-up run of the input example */
  serve_load_ms: number | null;
  input_example_ms: number | null;
}

/** fetch's and serve's log lines that mark the phases. */
export async function loggedTimes(namespace: string, pod: string, hasInit: boolean): Promise<LoggedTimes> {
  const fetchLog = hasInit ? await jsonLog(namespace, pod, 'model-downloader') : [];
  const serveLog = await jsonLog(namespace, pod, SERVER);
  const find = (lines: LogLine[], msg: string) => lines.find((l) => l.msg === msg);
  const time = (l: LogLine | undefined) => timeOf(l?.time);
  const fetched = find(fetchLog, 'model ready');
  const ready = find(serveLog, 'model ready');
  return {
    fetch_first_line: time(fetchLog.find((l) => l.time !== undefined)),
    fetch_ready: time(fetched),
    fetch_ms: singleMs(fetched?.ms),
    fetch_source: fetched?.source ?? null,
    serve_listening: time(find(serveLog, 'listening; loading model')),
    serve_model_ready: time(ready),
    serve_load_ms: singleMs(ready?.ms),
    input_example_ms: longestMs(find(serveLog, 'input example ran')?.ms),
  };
}

const singleMs = (ms: LogLine['ms']): number | null => (typeof ms === 'number' ? ms : null);

/** A log line's `ms`: the longest when it lists one per thread. */
const longestMs = (ms: LogLine['ms']): number | null => (Array.isArray(ms) ? Math.max(...ms) : singleMs(ms));

const earliest = (a: number | undefined, b: number | null): number | undefined =>
  a === undefined || b === null ? a : Math.min(a, b);

/** The phases of one cold start, ms; null where a mark is missing. */
export interface Phases {
  autoscale_to_pod: number | null;
  scheduling: number | null;
  container_start: number | null;
  init_fetch: number | null;
  serve_to_model_ready: number | null;
  ready_to_first_200: number | null;
  total: number;
}

/**
 * Splits request sent (t0) → first 200 (t1) at the marks: the activator holding the request while the autoscaler
 * scales the Deployment and the ReplicaSet creates the pod; scheduling; sandbox + first container start; the init
 * container (fetch, up to its 'model ready' log); the serving container's start and model load up to serve's
 * 'model ready' log (its own warm-up inference included); then readiness probe, activator/queue-proxy and the
 * first inference up to the first 200.
 */
export function phasesOf(t0: number, t1: number, o: Observed, l: LoggedTimes): Phases {
  const d = (a: number | null | undefined, b: number | null | undefined) =>
    a === null || a === undefined || b === null || b === undefined ? null : a - b;
  const hasInit = o.init_running !== undefined;
  // the watch sees the init container running when the kubelet reports it, which can be after fetch has logged
  // (and even finished): its first log line bounds the start too
  const initStart = hasInit ? earliest(o.init_running, l.fetch_first_line) : undefined;
  const initEnd = l.fetch_ready ?? o.init_done;
  return {
    autoscale_to_pod: d(o.pod_created, t0),
    scheduling: d(o.scheduled, o.pod_created),
    container_start: d(hasInit ? initStart : o.server_running, o.scheduled),
    init_fetch: hasInit ? d(initEnd, initStart) : null,
    serve_to_model_ready: d(l.serve_model_ready, hasInit ? initEnd : o.server_running),
    ready_to_first_200: d(t1, l.serve_model_ready),
    total: t1 - t0,
  };
}
