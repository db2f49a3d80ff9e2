/**
 * The Knative `config-features` flags (ConfigMap `config-features`, namespace knative-serving) a pod spec
 * needs, in a stable order. The Knative webhook refuses a Revision using a gated field whose flag is
 * `disabled`; knative/features/config-features.yaml enables exactly these.
 */
export function requiredFeatures(podSpec: Record<string, unknown>): string[] {
  const volumes = (podSpec.volumes as Record<string, unknown>[] | undefined) ?? [];
  const containers = [
    ...((podSpec.initContainers as Record<string, unknown>[] | undefined) ?? []),
    ...((podSpec.containers as Record<string, unknown>[] | undefined) ?? []),
  ];
  const flags: string[] = [];
  const add = (flag: string, when: boolean): void => {
    if (when) flags.push(flag);
  };
  add('kubernetes.podspec-affinity', podSpec.affinity !== undefined);
  add('kubernetes.podspec-fieldref', containers.some(usesFieldRef));
  add(
    'kubernetes.podspec-init-containers',
    containers.length > ((podSpec.containers as unknown[] | undefined)?.length ?? 0),
  );
  add('kubernetes.podspec-nodeselector', podSpec.nodeSelector !== undefined);
  const pvcNames = volumes.filter((v) => v.persistentVolumeClaim !== undefined).map((v) => v.name);
  add('kubernetes.podspec-persistent-volume-claim', pvcNames.length > 0);
  add(
    'kubernetes.podspec-persistent-volume-write',
    containers.some((c) => mountsWritable(c, pvcNames)),
  );
  add('kubernetes.podspec-securitycontext', podSpec.securityContext !== undefined);
  add('kubernetes.podspec-tolerations', podSpec.tolerations !== undefined);
  add(
    'kubernetes.podspec-volumes-emptydir',
    volumes.some((v) => v.emptyDir !== undefined),
  );
  add(
    'kubernetes.podspec-volumes-hostpath',
    volumes.some((v) => v.hostPath !== undefined),
  );
  return flags;
}

function mountsWritable(container: Record<string, unknown>, volumeNames: unknown[]): boolean {
  const mounts = (container.volumeMounts as Record<string, unknown>[] | undefined) ?? [];
  return mounts.some((m) => volumeNames.includes(m.name) && m.readOnly !== true);
}

/** Whether a container takes an environment variable from the pod's fields (`valueFrom.fieldRef` / `resourceFieldRef`). */
function usesFieldRef(container: Record<string, unknown>): boolean {
  const env = (container.env as { valueFrom?: Record<string, unknown> }[] | undefined) ?? [];
  return env.some((e) => e.valueFrom?.fieldRef !== undefined || e.valueFrom?.resourceFieldRef !== undefined);
}
