import { statfs } from 'node:fs/promises';
import { AppError } from '../../shared/errors/app-error.js';

/**
 * Refuses to start a download of `bytes` into `dir` when the filesystem has less free space (for an
 * unprivileged user) than that plus `reserveBytes`.
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
  const fs = await statfs(params.dir);
  const free = fs.bavail * fs.bsize;
  const need = params.bytes + (params.reserveBytes ?? 64 * 1024 * 1024);
  if (free >= need) return;
  throw new AppError({
    code: 'NO_SPACE',
    statusCode: 507,
    message:
      `${params.what} needs ${formatBytes(params.bytes)} but ${params.dir} has ${formatBytes(free)} free: ` +
      `enlarge the volume (emptyDir sizeLimit / PVC size) or free space`,
  });
}

/** `1536` → `1.5 KiB`. */
export function formatBytes(bytes: number): string {
  const units = ['B', 'KiB', 'MiB', 'GiB', 'TiB'];
  let value = bytes;
  let unit = 0;
  while (Math.abs(value) >= 1024 && unit < units.length - 1) {
    value /= 1024;
    unit++;
  }
  return `${unit === 0 ? value : value.toFixed(1)} ${units[unit]}`;
}
