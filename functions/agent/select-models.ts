/** Node labels that carry a GPU type, read in this order (plus the configurable one, first). */
const GPU_TYPE_LABELS = ['nvidia.com/gpu.product', 'cloud.google.com/gke-accelerator'] as const;

/**
 * The GPU types a Node advertises: the values of `extraLabel` (when set), `nvidia.com/gpu.product` (NVIDIA GPU
 * feature discovery, e.g. `NVIDIA-L4`) and `cloud.google.com/gke-accelerator` (GKE, e.g. `nvidia-l4`).
 * A node may carry several; a model matching any of them is taken.
 */
export function gpuTypesFromLabels(labels: Record<string, string> | undefined, extraLabel?: string): string[] {
  const keys = [...(extraLabel ? [extraLabel] : []), ...GPU_TYPE_LABELS];
  const values = keys.map((k) => labels?.[k]).filter((v): v is string => typeof v === 'string' && v.length > 0);
  return [...new Set(values)];
}

/**
 * Matching rules (documented in the README): a model is taken when its `gpu_compatible` is `["ALL"]`, or
 * when one of its entries equals one of the node's GPU types ignoring case (`nvidia-l4` matches `NVIDIA-L4`).
 * The comparison is exact otherwise — no substring or prefix match: `nvidia-a100` must not pull a model meant
 * for `nvidia-a100-80gb` onto a 40 GB card. `gpuTypes` null means "no filter" (`--once` without `--gpu-type`).
 */
export function isModelForGpu(gpuCompatible: readonly string[], gpuTypes: readonly string[] | null): boolean {
  if (gpuCompatible.some((t) => t.toUpperCase() === 'ALL')) return true;
  if (gpuTypes === null) return true;
  const node = new Set(gpuTypes.map((t) => t.toLowerCase()));
  return gpuCompatible.some((t) => node.has(t.toLowerCase()));
}
