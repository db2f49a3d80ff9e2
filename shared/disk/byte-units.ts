/**
 * The two "GB" of modelctl's settings, each named by its unit (the settings keep the names users know):
 * - `minFreeSpaceGB` (models config, agent) is in GB, 10⁹ bytes, as disks are sold and `df -H` shows;
 * - `MAX_SIZE_GB` (cleanup) and `FETCH_MAX_MODEL_GB` (fetch) are in GiB, 2³⁰ bytes, as `du -h` and `Gi` count.
 */
export const BYTES_PER_GB = 1_000_000_000;
/** 2³⁰ bytes (see {@link BYTES_PER_GB} for which setting uses which). */
export const BYTES_PER_GIB = 1024 ** 3;
