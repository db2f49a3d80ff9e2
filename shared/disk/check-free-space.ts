import { DiskGuard } from './disk-guard.js';

/**
 * Refuses to start a download of `bytes` into `dir` when the filesystem has less free space (for an
 * unprivileged user) than that plus `reserveBytes`: {@link DiskGuard.assertFits}, the one free-space check.
 * @throws AppError NO_SPACE naming both sizes and the folder
 */
export async function checkFreeSpace(params: {
  dir: string;
  bytes: number;
  /** kept free besides the model @default 64 MiB */
  reserveBytes?: number;
  /** what is being downloaded, for the message */
  what: string;
}): Promise<void> {
  const guard = new DiskGuard({
    dir: params.dir,
    minFreeBytes: params.reserveBytes ?? 64 * 1024 * 1024,
    hint: 'enlarge the volume (emptyDir sizeLimit / PVC size) or free space',
  });
  await guard.assertFits(params.bytes, params.what);
}
