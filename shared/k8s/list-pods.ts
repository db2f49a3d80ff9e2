import { CoreV1Api, type KubeConfig, type V1Container, type V1Pod } from '@kubernetes/client-node';
import { translateError } from './config-maps.js';

/** What cleanup needs to know of a Pod: is it active, and what it mounts and is told to load. */
export interface PodUsage {
  name: string;
  namespace: string;
  /** Pending, Running, Succeeded, Failed, Unknown ('' when the API server has not set one) */
  phase: string;
  /** true unless the Pod has finished (Succeeded/Failed) or is being deleted */
  active: boolean;
  /** every env var value of every container and init container, by name (later ones do not overwrite: all kept) */
  env: { name: string; value: string }[];
  /** names of env vars set through `valueFrom` (ConfigMap, Secret, field refs): their values are not known here */
  envFrom: string[];
  /** persistentVolumeClaim names the Pod mounts */
  claims: string[];
}

/** Lists Pods of a namespace (all pages). */
export type ListPods = (namespace: string) => Promise<PodUsage[]>;

/** A {@link ListPods} reading the API server (needs `list` on pods in the namespace). */
export function createPodLister(kc: KubeConfig): ListPods {
  const api = kc.makeApiClient(CoreV1Api);
  return async (namespace) => {
    const pods: PodUsage[] = [];
    let next: string | undefined;
    do {
      try {
        const page = await api.listNamespacedPod({ namespace, limit: 500, ...(next ? { _continue: next } : {}) });
        pods.push(...page.items.map(toPodUsage));
        next = page.metadata?._continue || undefined;
      } catch (err) {
        throw translateError(err, `list Pods in ${namespace}`);
      }
    } while (next);
    return pods;
  };
}

/** The parts of a V1Pod that {@link PodUsage} keeps. */
function toPodUsage(pod: V1Pod): PodUsage {
  const phase = pod.status?.phase ?? '';
  return {
    name: pod.metadata?.name ?? '',
    namespace: pod.metadata?.namespace ?? '',
    phase,
    active: isActive(pod, phase),
    env: envOf(pod),
    envFrom: containersOf(pod).flatMap((c) => (c.env ?? []).flatMap((e) => (e.valueFrom ? [e.name] : []))),
    claims: (pod.spec?.volumes ?? []).flatMap((v) =>
      v.persistentVolumeClaim ? [v.persistentVolumeClaim.claimName] : [],
    ),
  };
}

function isActive(pod: V1Pod, phase: string): boolean {
  const finished = phase === 'Succeeded' || phase === 'Failed';
  return !finished && pod.metadata?.deletionTimestamp === undefined;
}

function containersOf(pod: V1Pod): V1Container[] {
  return [...(pod.spec?.initContainers ?? []), ...(pod.spec?.containers ?? [])];
}

/** Literal env values of every init and regular container (valueFrom ones are not resolved). */
function envOf(pod: V1Pod): { name: string; value: string }[] {
  return containersOf(pod).flatMap((c) =>
    (c.env ?? []).flatMap((e) => (e.value === undefined ? [] : [{ name: e.name, value: e.value }])),
  );
}
