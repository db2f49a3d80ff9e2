import { randomBytes } from 'node:crypto';
import { chmod, mkdir, open, rename, stat, unlink, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import { request, type Dispatcher } from 'undici';
import { AppError } from '../errors/app-error.js';
import { blobLockPath, blobPath, type RepoCachePaths } from '../hf-cache/cache-paths.js';
import type { DiskGuard } from '../hf-cache/disk-guard.js';
import { deleteResumeRecord, readResumeRecord, writeResumeRecord } from '../hf-cache/resume-record.js';
import { withFileLock } from '../hf-cache/with-file-lock.js';
import { updateLedger } from '../hf-cache/write-ledger.js';
import type { Logger } from '../log/create-logger.js';
import { withRetry } from '../retry/with-retry.js';
import { blobHashSpec, hashPool, type HashStream } from './hash-pool.js';
import { hubErrorFromResponse, isRetryableHubError } from './hub-error.js';
import type { HubAccess } from './hub-fetch.js';
import type { RepoFile } from './list-repo-files.js';

/**
 * Bytes gathered before one write(2) and one hand-over to the hash worker. Deliberately not a power of two:
 * 1 MiB-aligned 1 MiB writes make Linux ≥ 6.16 ext4 back the page cache with 1 MiB folios, which on VMs that
 * hand free memory back to the host cost several times the kernel time per GiB (measured: ~2.7 s vs ~0.6 s of
 * sys per GiB written); writes of 1 MiB - 4 KiB get small folios, as curl's and huggingface_hub's writes do.
 */
const SLAB_BYTES = 1024 * 1024 - 4096;
/** Slabs one file holds at most (one filling, the others being written or hashed): memory is this × SLAB_BYTES × files. */
const SLABS_PER_FILE = 2;
/** Free slabs kept for the next files (the rest are left to the GC). */
const MAX_FREE_SLABS = 2;
const MAX_REDIRECTS = 5;

/** What one blob download did. */
export interface BlobOutcome {
  /** false when `blobs/{etag}` was already there (ours, another agent's, or huggingface_hub's) */
  downloaded: boolean;
  /** bytes received over the network for this blob */
  networkBytes: number;
  /** bytes found on disk from an earlier, interrupted run */
  resumedBytes: number;
}

/** Retry policy for one blob (transient Hub errors, dropped connections, slow bodies, a failed hash). */
export interface RetryPolicy {
  /** @default 8 */
  maxRetries?: number;
  /** @default 1000 */
  baseDelayMs?: number;
  /** @default 60000 */
  maxDelayMs?: number;
}

export interface DownloadBlobParams {
  access: HubAccess;
  paths: RepoCachePaths;
  commit: string;
  file: RepoFile;
  /** where resume records and the ownership ledger live, outside HF_HUB_CACHE */
  stateDir: string;
  diskGuard?: DiskGuard | undefined;
  dispatcher?: Dispatcher | undefined;
  retry?: RetryPolicy | undefined;
  /** called with each chunk's byte count as it lands on disk (metrics) */
  onBytes?: ((bytes: number) => void) | undefined;
  signal?: AbortSignal | undefined;
  log: Logger;
}

/**
 * Puts `blobs/{etag}` of one file in the cache, safely: under huggingface_hub's flock for the etag, into a
 * unique `.modelctl-{etag}.{rand}.part` temp file in `blobs/` (recorded in the state dir so a later run
 * resumes it with `Range`), streamed with bounded memory, verified (size, and sha256 for LFS files or the git
 * blob sha1 for small ones), fsynced, then renamed to `blobs/{etag}`. Nothing partial ever has the final name.
 */
export async function downloadBlob(params: DownloadBlobParams): Promise<BlobOutcome> {
  const target = blobPath(params.paths, params.file.etag);
  if (await hasSize(target, params.file.size)) return { downloaded: false, networkBytes: 0, resumedBytes: 0 };
  await mkdir(params.paths.blobsDir, { recursive: true });
  const lock = {
    lockPath: blobLockPath(params.paths, params.file.etag),
    ...(params.signal ? { signal: params.signal } : {}),
  };
  return withFileLock(lock, async () => {
    // Another process may have published it while we waited for the lock.
    if (await hasSize(target, params.file.size)) return { downloaded: false, networkBytes: 0, resumedBytes: 0 };
    return downloadVerified(params, target);
  });
}

/** Bytes that fail their hash are dropped and fetched again from zero, this many times at most. */
const INTEGRITY_ATTEMPTS = 3;

async function downloadVerified(params: DownloadBlobParams, target: string): Promise<BlobOutcome> {
  for (let attempt = 1; ; attempt++) {
    try {
      return await downloadLocked(params, target);
    } catch (err) {
      if ((err as { code?: unknown }).code !== 'DOWNLOAD_INTEGRITY' || attempt >= INTEGRITY_ATTEMPTS) throw err;
      params.log.warn({ path: params.file.path, attempt, err }, 'blob failed its hash check: fetching it again');
    }
  }
}

async function downloadLocked(params: DownloadBlobParams, target: string): Promise<BlobOutcome> {
  const { file, paths, stateDir } = params;
  const partial = await openPartial(params);
  const state: BlobState = { offset: partial.offset, hash: partial.hash, networkBytes: 0 };
  const resumedBytes = partial.offset;
  if (resumedBytes > 0) params.log.info({ path: file.path, etag: file.etag, resumedBytes }, 'resuming blob');
  try {
    await withRetry({
      run: () => fetchInto(params, partial.handle, state),
      maxRetries: params.retry?.maxRetries ?? 8,
      baseDelayMs: params.retry?.baseDelayMs ?? 1000,
      maxDelayMs: params.retry?.maxDelayMs ?? 60_000,
      isRetryable: isRetryableHubError,
      onRetry: (a) =>
        params.log.warn({ path: file.path, retry: a.retry, delayMs: a.delayMs, err: a.error }, 'blob download retry'),
      ...(params.signal ? { signal: params.signal } : {}),
    });
    await verifyDigest(file, state.hash);
    await partial.handle.sync();
  } catch (err) {
    state.hash.dispose();
    await partial.handle.close();
    // A failed hash or a full disk makes the partial file worthless: drop it. Otherwise keep it for resume.
    const code = (err as { code?: unknown }).code;
    if (code === 'DOWNLOAD_INTEGRITY' || code === 'DISK_SPACE') await dropPartial(params, partial.tempPath);
    throw err;
  }
  await partial.handle.close();
  await chmod(partial.tempPath, 0o644);
  await updateLedger(stateDir, paths.repo, (l) => void l.blobs.push(file.etag));
  await rename(partial.tempPath, target);
  await deleteResumeRecord(stateDir, paths.repo, file.etag);
  return { downloaded: true, networkBytes: state.networkBytes, resumedBytes };
}

interface Partial {
  tempPath: string;
  handle: FileHandle;
  offset: number;
  hash: HashStream;
}

/** Opens the recorded partial file and hashes what it holds, or starts a new one (recorded before writing). */
async function openPartial(params: DownloadBlobParams): Promise<Partial> {
  const { file, paths, stateDir } = params;
  const record = await readResumeRecord(stateDir, paths.repo, file.etag);
  if (record !== null && record.size === file.size) {
    const tempPath = path.join(paths.blobsDir, record.temp);
    const size = await stat(tempPath).then(
      (s) => s.size,
      () => -1,
    );
    if (size >= 0 && size <= file.size) {
      const hash = await hashPool.streamFromFile(blobHashSpec(file), tempPath, size);
      const handle = await open(tempPath, 'r+');
      return { tempPath, handle, offset: size, hash };
    }
    await unlink(tempPath).catch(() => undefined);
  }
  const temp = `.modelctl-${file.etag}.${randomBytes(6).toString('hex')}.part`;
  await writeResumeRecord(stateDir, paths.repo, file.etag, { temp, size: file.size });
  const tempPath = path.join(paths.blobsDir, temp);
  const handle = await open(tempPath, 'w+');
  return { tempPath, handle, offset: 0, hash: hashPool.stream(blobHashSpec(file)) };
}

async function dropPartial(params: DownloadBlobParams, tempPath: string): Promise<void> {
  await unlink(tempPath).catch(() => undefined);
  await deleteResumeRecord(params.stateDir, params.paths.repo, params.file.etag);
}

async function verifyDigest(file: RepoFile, hash: HashStream): Promise<void> {
  const digest = await hash.digest();
  if (digest !== file.etag) {
    throw new AppError({
      code: 'DOWNLOAD_INTEGRITY',
      statusCode: 502,
      message: `${file.path}: downloaded content hashes to ${digest}, expected ${file.etag}`,
    });
  }
}

/**
 * One attempt: GET from `state.offset` (Range), follow redirects (the token only to the Hub's origin), append
 * to the partial file. The hash is updated only with bytes already written, so after any failure the hash and
 * `state.offset` still describe exactly what is on disk and the next attempt continues from there.
 */
async function fetchInto(params: DownloadBlobParams, handle: FileHandle, state: BlobState): Promise<void> {
  const { file } = params;
  if (state.offset === file.size) return;
  const body = await openBody(params, state.offset);
  if (body.restartFromZero) {
    await handle.truncate(0);
    state.offset = 0;
    state.hash.dispose();
    state.hash = hashPool.stream(blobHashSpec(file));
  }
  const sink = new SlabSink(params, handle, state);
  let received = state.offset;
  try {
    for await (const chunk of body.stream) {
      const buf = chunk as Buffer;
      state.networkBytes += buf.length;
      received += buf.length;
      if (received > file.size) {
        sink.discard();
        throw new AppError({
          code: 'DOWNLOAD_INTEGRITY',
          statusCode: 502,
          message: `${file.path}: the Hub sent more than ${file.size} bytes`,
        });
      }
      const wait = sink.push(buf);
      if (wait) await wait;
    }
  } finally {
    // Bytes received before a dropped connection are a valid prefix: keep them, so the retry resumes after them.
    await sink.flush();
  }
  if (state.offset !== file.size) {
    throw new AppError({
      code: 'DOWNLOAD_INCOMPLETE',
      statusCode: 502,
      message: `${file.path}: body ended at ${state.offset} of ${file.size} bytes`,
    });
  }
}

interface BlobState {
  /** bytes on disk (written, in order) */
  offset: number;
  /** has been handed exactly the bytes on disk, in order */
  hash: HashStream;
  networkBytes: number;
}

const freeSlabs: ArrayBuffer[] = [];

let nextGeneration = 1;

/**
 * Copies body chunks into slabs of SLAB_BYTES; a full slab is handed (transferred, not copied) to the hash
 * worker, which writes it at its place in the file (pwrite) and then hashes it, in order, while the next slab
 * fills: the main thread only moves bytes from the sockets into slabs. The worker gives each slab back for
 * reuse; `state.offset` advances as the writes complete, in order. At most SLABS_PER_FILE slabs per file: when
 * all are busy, {@link SlabSink.push} returns a promise and the caller stops reading (TCP backpressure).
 */
class SlabSink {
  private slab: Buffer | null = null;
  private fill = 0;
  /** slabs taken and not yet back (filling, or being written and hashed) */
  private held = 0;
  private wake: (() => void) | null = null;
  /** where the next slab goes: `state.offset` plus the bytes handed over and not yet written */
  private writeAt: number;
  /** the hand-overs, in order (each waits for its disk-space reservation); rejects with the first failure */
  private posted: Promise<void> = Promise.resolve();
  /** slabs handed over or about to be, until written or failed */
  private readonly outstanding = new Set<Promise<void>>();
  private failure: { error: unknown } | null = null;
  /** the worker refuses this generation's writes after one failed, so the file gets no hole */
  private readonly generation = nextGeneration++;

  constructor(
    private readonly params: DownloadBlobParams,
    private readonly handle: FileHandle,
    private readonly state: BlobState,
  ) {
    this.writeAt = state.offset;
  }

  /** Takes `chunk` (copied); a promise when the caller must wait before pushing more. */
  push(chunk: Buffer): Promise<void> | undefined {
    let at = 0;
    while (at < chunk.length) {
      if (this.slab === null) {
        if (this.held >= SLABS_PER_FILE || this.failure) return this.pushLater(chunk.subarray(at));
        this.slab = Buffer.from(freeSlabs.pop() ?? new ArrayBuffer(SLAB_BYTES));
        this.held++;
      }
      const n = chunk.copy(this.slab, this.fill, at);
      this.fill += n;
      at += n;
      if (this.fill === this.slab.length) this.submit();
    }
    return undefined;
  }

  /** Writes what is buffered and waits for every write; throws the first failure. */
  async flush(): Promise<void> {
    if (this.fill > 0) this.submit();
    else this.discard();
    while (this.outstanding.size > 0) await Promise.allSettled([...this.outstanding]);
    if (this.failure) throw this.failure.error;
  }

  /** Drops the slab being filled (its bytes are not to be written). */
  discard(): void {
    if (this.slab === null) return;
    this.giveBack(this.slab.buffer as ArrayBuffer);
    this.slab = null;
    this.fill = 0;
  }

  private async pushLater(rest: Buffer): Promise<void> {
    while (this.held >= SLABS_PER_FILE && !this.failure) await new Promise<void>((r) => (this.wake = r));
    if (this.failure) throw this.failure.error;
    const wait = this.push(rest);
    if (wait) await wait;
  }

  private submit(): void {
    const slab = this.slab!;
    const buffer = slab.buffer as ArrayBuffer;
    const length = this.fill;
    this.slab = null;
    this.fill = 0;
    // asked now, while earlier slabs are being written; counted as in flight until released
    const reserved = this.params.diskGuard?.reserve(length);
    reserved?.catch(() => undefined);
    let written!: Promise<void>;
    const handedOver = this.posted.then(
      async () => {
        let release: (() => void) | undefined;
        try {
          release = await reserved;
        } catch (err) {
          this.giveBack(buffer);
          throw err;
        }
        const target = { fd: this.handle.fd, position: this.writeAt, generation: this.generation };
        this.writeAt += length;
        written = new Promise<void>((resolve, reject) => {
          this.state.hash.write(target, buffer, length, (back, error) => {
            release?.();
            this.giveBack(back);
            if (error) {
              reject(error);
              return;
            }
            this.state.offset += length;
            this.params.onBytes?.(length);
            resolve();
          });
        });
      },
      (err: unknown) => {
        // an earlier slab failed: this one is never written
        this.giveBack(buffer);
        void reserved?.then(
          (release) => release(),
          () => undefined,
        );
        throw err;
      },
    );
    this.posted = handedOver;
    const done = handedOver.then(() => written);
    this.outstanding.add(done);
    done.then(
      () => this.outstanding.delete(done),
      (error: unknown) => {
        this.outstanding.delete(done);
        // the first failure is thrown by flush() or the next push
        this.failure ??= { error };
        this.wakeUp();
      },
    );
  }

  private giveBack(buffer: ArrayBuffer): void {
    this.held--;
    if (freeSlabs.length < MAX_FREE_SLABS && buffer.byteLength === SLAB_BYTES) freeSlabs.push(buffer);
    this.wakeUp();
  }

  private wakeUp(): void {
    const wake = this.wake;
    this.wake = null;
    wake?.();
  }
}

/**
 * GETs `/{repo}/resolve/{commit}/{path}` from `offset`, following redirects by hand: a relative or same-origin
 * redirect keeps the token, a redirect to another origin (the signed CDN URL) never gets it, not even if it
 * redirects back.
 */
async function openBody(
  params: DownloadBlobParams,
  offset: number,
): Promise<{ stream: AsyncIterable<unknown>; restartFromZero: boolean }> {
  const { access, file } = params;
  const hubOrigin = new URL(access.hubUrl).origin;
  let url = new URL(
    `${access.hubUrl}/${params.paths.repo}/resolve/${params.commit}/${file.path.split('/').map(encodeURIComponent).join('/')}`,
  );
  let withToken = true;
  for (let hop = 0; hop <= MAX_REDIRECTS; hop++) {
    withToken &&= url.origin === hubOrigin;
    const headers: Record<string, string> = {
      'accept-encoding': 'identity',
      'user-agent': access.userAgent ?? 'modelctl',
    };
    if (offset > 0) headers.range = `bytes=${offset}-`;
    if (withToken && access.token) headers.authorization = `Bearer ${access.token}`;
    const res = await request(url, {
      method: 'GET',
      headers,
      ...(params.dispatcher ? { dispatcher: params.dispatcher } : {}),
      ...(params.signal ? { signal: params.signal } : {}),
    });
    const location = res.headers.location;
    if (res.statusCode >= 300 && res.statusCode < 400 && typeof location === 'string') {
      await res.body.dump();
      url = new URL(location, url);
      continue;
    }
    const checked = checkBodyStatus(res, params, offset);
    if (checked !== null) return { stream: res.body, restartFromZero: checked };
    await res.body.dump().catch(() => undefined);
    throw hubErrorFromResponse({
      status: res.statusCode,
      headers: res.headers,
      what: `${params.paths.repo}/${file.path}`,
    });
  }
  throw new AppError({
    code: 'HUB_BAD_RESPONSE',
    statusCode: 502,
    message: `${file.path}: more than ${MAX_REDIRECTS} redirects`,
  });
}

/** null when the status is an error; else whether the body starts at byte 0 although we asked for `offset`. */
function checkBodyStatus(res: Dispatcher.ResponseData, params: DownloadBlobParams, offset: number): boolean | null {
  if (res.statusCode === 200) return offset > 0;
  if (res.statusCode !== 206) return null;
  const range = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(String(res.headers['content-range'] ?? ''));
  if (range === null || Number(range[1]) !== offset || (range[3] !== '*' && Number(range[3]) !== params.file.size)) {
    throw new AppError({
      code: 'DOWNLOAD_INCOMPLETE',
      statusCode: 502,
      message: `${params.file.path}: unexpected Content-Range ${String(res.headers['content-range'])} for offset ${offset}`,
    });
  }
  return false;
}

async function hasSize(p: string, size: number): Promise<boolean> {
  return stat(p).then(
    (s) => s.isFile() && s.size === size,
    () => false,
  );
}
