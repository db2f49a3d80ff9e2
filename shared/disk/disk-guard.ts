import { statfs } from 'node:fs/promises';
import { AppError } from '../errors/app-error.js';
import { formatBytes } from './format-bytes.js';

/** The code shared/disk throws (also for ENOSPC met while writing, shared/mlflow/download-artifacts.ts). */
export type DiskErrorCode = 'NO_SPACE';

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    disk: DiskErrorCode;
  }
}

/** Free bytes available to an unprivileged writer on the filesystem of `dir` (statfs `bavail * bsize`). */
export type FreeBytes = (dir: string) => Promise<number>;

/** The real statfs(2), through node:fs: the one reading of free space. */
const statfsFreeBytes: FreeBytes = async (dir) => {
  const s = await statfs(dir);
  return Number(s.bavail) * Number(s.bsize);
};

/**
 * Keeps at least `minFreeBytes` free on the cache's filesystem while downloads write to it. Every write asks
 * {@link DiskGuard.reserve} first; the guard re-reads statfs before each write by default (and counts what it
 * let through and what is still in flight), so the threshold holds even with several files downloading at once.
 */
export class DiskGuard {
  private free = 0;
  /** bytes written since the last statfs (not yet seen by it) */
  private sinceRefresh = Number.POSITIVE_INFINITY;
  /** bytes reserved and not yet written: counted whether or not the next statfs sees them (errs safe) */
  private inFlight = 0;
  private refreshing: Promise<void> | undefined;

  private readonly params: {
    dir: string;
    minFreeBytes: number;
    /** @default statfsFreeBytes */
    freeBytes?: FreeBytes;
    /** re-read statfs once this many bytes were written since the last read @default 0 (every write: statfs is cheap, and another writer on the disk shows at once) */
    refreshBytes?: number;
    /** what the user can do about it, for the message @default raise the disk or lower minFreeSpaceGB */
    hint?: string;
  };

  constructor(params: DiskGuard['params']) {
    this.params = params;
  }

  /** Free bytes now (fresh statfs). */
  async freeBytesNow(): Promise<number> {
    await this.refresh();
    return this.free;
  }

  /**
   * Asks to write `bytes` more; call the returned function once they are written.
   * @throws AppError NO_SPACE when the write would leave less than `minFreeBytes` free
   */
  async reserve(bytes: number): Promise<() => void> {
    if (this.sinceRefresh + bytes > (this.params.refreshBytes ?? 0)) await this.refresh();
    if (this.available() - bytes < this.params.minFreeBytes) {
      await this.refresh();
      if (this.available() - bytes < this.params.minFreeBytes) throw this.error(bytes);
    }
    this.inFlight += bytes;
    return () => {
      this.inFlight -= bytes;
      this.sinceRefresh += bytes;
    };
  }

  private available(): number {
    return this.free - this.sinceRefresh - this.inFlight;
  }

  /**
   * Checks that `bytes` more fit above the threshold, without reserving them (the before-a-model check).
   * @param what what needs the bytes, for the message (`version 1 of model "m"`)
   * @throws AppError NO_SPACE
   */
  async assertFits(bytes: number, what?: string): Promise<void> {
    await this.refresh();
    if (this.free - bytes < this.params.minFreeBytes) throw this.error(bytes, what);
  }

  private error(bytes: number, what = 'the download'): AppError {
    const { dir, minFreeBytes } = this.params;
    return new AppError({
      code: 'NO_SPACE',
      statusCode: 507,
      message:
        `not enough disk space: ${what} needs ${formatBytes(bytes)} but ${dir} has ${formatBytes(Math.max(0, this.free))} ` +
        `free, and ${formatBytes(minFreeBytes)} must stay free: ${this.params.hint ?? 'free space on the disk or lower minFreeSpaceGB'}`,
    });
  }

  private async refresh(): Promise<void> {
    this.refreshing ??= (async () => {
      try {
        this.free = await (this.params.freeBytes ?? statfsFreeBytes)(this.params.dir);
        this.sinceRefresh = 0;
      } finally {
        this.refreshing = undefined;
      }
    })();
    await this.refreshing;
  }
}
