import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import { mkdir, open, stat } from 'node:fs/promises';
import path from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import pLimit from 'p-limit';
import { z } from 'zod';
import type { MlflowClient } from './mlflow-client.js';
import { AppError } from '../errors/app-error.js';
import { resolveRepoPathProblem } from '../hub/resolve-repo-path.js';
import { isConnectionError } from '../retry/with-retry.js';
import { MlflowError } from './mlflow-error.js';

/** One file of an artifact folder, relative to the folder. */
export interface ArtifactFile {
  /** POSIX path relative to the listed root */
  path: string;
  /** bytes, when the server said */
  size: number | undefined;
}

const Listing = z.object({
  files: z
    .array(
      z.object({
        path: z.string().min(1),
        is_dir: z.boolean().default(false),
        file_size: z.coerce.number().int().nonnegative().optional(),
      }),
    )
    .default([]),
});

/** Bounds of an artifact tree walk: a real MLflow model is a handful of files in a folder or two. */
const TREE_LIMITS = { depth: 32, listings: 2000, files: 100_000 } as const;

/**
 * Lists every file under `proxyPath` through the proxy (`GET /api/2.0/mlflow-artifacts/artifacts?path=`,
 * which answers basenames one level at a time), walking sub-folders `concurrency` at a time, within
 * {@link TREE_LIMITS} (a server may nest folders forever).
 * @throws MlflowError MODEL_NOT_FOUND when the folder holds nothing; MLFLOW_BAD_RESPONSE naming the bound hit
 */
export async function listArtifacts(params: {
  client: MlflowClient;
  proxyPath: string;
  what: string;
  /** @default 4 */
  concurrency?: number;
}): Promise<ArtifactFile[]> {
  const limit = pLimit(params.concurrency ?? 4);
  const count = { listings: 0, files: 0 };
  let failure: MlflowError | null = null;
  const tooLarge = (bound: string): MlflowError =>
    (failure ??= new MlflowError({
      code: 'MLFLOW_BAD_RESPONSE',
      message: `the artifact tree of ${params.what} on MLflow at ${params.client.origin} is ${bound}: not an MLflow model`,
    }));
  const walk = async (rel: string, depth: number): Promise<ArtifactFile[]> => {
    if (depth > TREE_LIMITS.depth) throw tooLarge(`deeper than ${TREE_LIMITS.depth} folders`);
    if (++count.listings > TREE_LIMITS.listings) throw tooLarge(`more than ${TREE_LIMITS.listings} folder listings`);
    const listing = await limit(() => {
      // once a bound is hit, the listings still queued are not sent
      if (failure !== null) throw failure;
      return params.client.getJson({
        path: '/api/2.0/mlflow-artifacts/artifacts',
        query: { path: rel === '' ? params.proxyPath : `${params.proxyPath}/${rel}` },
        schema: Listing,
        what: `the file list of ${params.what}`,
      });
    });
    count.files += listing.files.length;
    if (count.files > TREE_LIMITS.files) throw tooLarge(`more than ${TREE_LIMITS.files} files`);
    const nested = await Promise.all(
      listing.files.map(async (f) => {
        const name = baseName(safeRelative(f.path, params.what));
        const child = safeRelative(rel === '' ? name : `${rel}/${name}`, params.what);
        return f.is_dir ? walk(child, depth + 1) : [{ path: child, size: f.file_size }];
      }),
    );
    return nested.flat();
  };
  const files = await walk('', 0);
  if (files.length === 0) {
    throw new MlflowError({
      code: 'MODEL_NOT_FOUND',
      message: `no files for ${params.what} on MLflow at ${params.client.origin} (artifact path ${params.proxyPath}): check MODEL_URI`,
    });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}

/** The proxy answers basenames, older servers full relative paths: keep the last segment. */
function baseName(p: string): string {
  return p.split('/').filter(Boolean).pop() ?? p;
}

/**
 * Refuses a server-sent name that would write outside the destination or that no tool shows faithfully
 * (control characters): the same rules as a Hub repo's file paths (warm, agent).
 */
function safeRelative(rel: string, what: string): string {
  const problem = resolveRepoPathProblem(rel);
  if (problem !== null) {
    throw new MlflowError({
      code: 'MLFLOW_BAD_RESPONSE',
      message: `unsafe file name ${JSON.stringify(rel)} in ${what} (${problem})`,
    });
  }
  return rel;
}

/** A downloaded file: what the manifest records. */
export interface DownloadedFile {
  path: string;
  size: number;
  sha256: string;
}

/**
 * Downloads `files` (from {@link listArtifacts}) under `proxyPath` into `destDir`, `concurrency` at a time.
 * Each file is retried under the client's policy; a retry continues with `Range` from the bytes already on
 * disk when the server honours it (206 with the matching `Content-Range`), else starts over. Sizes are checked
 * against the listing, each file fsynced, then hashed.
 * @returns size and sha256 of each file
 */
export async function downloadArtifacts(params: {
  client: MlflowClient;
  proxyPath: string;
  files: readonly ArtifactFile[];
  destDir: string;
  what: string;
  /** @default 4 */
  concurrency?: number;
  /**
   * bytes written since the last call (negative when a restart discards bytes); throwing stops the download
   * with that error (how the caller bounds a model's total)
   */
  onBytes?: (delta: number) => void;
  signal?: AbortSignal | undefined;
}): Promise<DownloadedFile[]> {
  const limit = pLimit(params.concurrency ?? 4);
  return Promise.all(params.files.map((file) => limit(() => downloadOne({ ...params, file }))));
}

async function downloadOne(params: {
  client: MlflowClient;
  proxyPath: string;
  file: ArtifactFile;
  destDir: string;
  what: string;
  onBytes?: (delta: number) => void;
  signal?: AbortSignal | undefined;
}): Promise<DownloadedFile> {
  const dest = path.join(params.destDir, ...params.file.path.split('/'));
  await mkdir(path.dirname(dest), { recursive: true });
  const what = `file ${params.file.path} of ${params.what}`;
  await params.client.withRetries(what, async () => {
    params.signal?.throwIfAborted();
    await transferOnce({ ...params, dest, what });
  });
  const size = (await stat(dest)).size;
  if (params.file.size !== undefined && size !== params.file.size) {
    throw new MlflowError({
      code: 'MLFLOW_BAD_RESPONSE',
      message: `${what}: got ${size} bytes, the listing says ${params.file.size}`,
    });
  }
  return { path: params.file.path, size, sha256: await sha256Of(dest) };
}

/** One attempt: resume from what is on disk when possible; throws (retryable) when the body is cut short. */
async function transferOnce(params: {
  client: MlflowClient;
  proxyPath: string;
  file: ArtifactFile;
  dest: string;
  what: string;
  onBytes?: (delta: number) => void;
  signal?: AbortSignal | undefined;
}): Promise<void> {
  const have = (await stat(params.dest).catch(() => null))?.size ?? 0;
  if (have > 0 && have === params.file.size) return;
  const res = await params.client.openArtifact({
    proxyPath: `${params.proxyPath}/${params.file.path}`,
    start: have,
    what: params.what,
  });
  // the server continued where we are (206, matching Content-Range), or starts over: offset 0
  const offset = res.statusCode === 206 && contentRangeStart(res.headers['content-range']) === have ? have : 0;
  if (offset !== have) params.onBytes?.(-have);
  await writeBody({ ...params, body: res.body, append: offset > 0, offset });
  await fsyncFile(params.dest);
}

async function writeBody(params: {
  body: NodeJS.ReadableStream;
  dest: string;
  append: boolean;
  /** bytes of the file before the first byte of `body` */
  offset: number;
  file: ArtifactFile;
  what: string;
  onBytes?: (delta: number) => void;
  signal?: AbortSignal | undefined;
}): Promise<void> {
  const onBytes = params.onBytes ?? (() => undefined);
  const listed = params.file.size;
  let end = params.offset;
  const counter = new Transform({
    transform(chunk: Buffer, _enc, done) {
      end += chunk.length;
      // never write past the listed size: a server that sends more is stopped here, not after the fact
      if (listed !== undefined && end > listed) {
        done(
          new MlflowError({
            code: 'MLFLOW_BAD_RESPONSE',
            message: `${params.what}: the server sent more than the ${listed} bytes listed`,
          }),
        );
        return;
      }
      try {
        onBytes(chunk.length);
      } catch (err) {
        done(err as Error);
        return;
      }
      done(null, chunk);
    },
  });
  const out = createWriteStream(params.dest, { flags: params.append ? 'a' : 'w' });
  try {
    await pipeline(params.body, counter, out, { signal: params.signal });
  } catch (err) {
    throw downloadError(err, params.what, params.dest);
  }
}

/**
 * A broken transfer: a full disk is NO_SPACE (not retried), a dropped or stalled connection is retryable,
 * anything else (abort, permissions) is rethrown as it is.
 */
function downloadError(err: unknown, what: string, dest: string): unknown {
  const code = (err as { code?: string }).code;
  if (code === 'ENOSPC' || code === 'EDQUOT') {
    return new AppError({
      code: 'NO_SPACE',
      statusCode: 507,
      message: `the disk filled up while writing ${what} to ${dest}`,
      cause: err,
    });
  }
  if (!isConnectionError(err)) return err;
  return new MlflowError({
    code: 'MLFLOW_UNAVAILABLE',
    message: `the download of ${what} broke off (${code ?? 'connection error'})`,
    cause: err,
  });
}

function contentRangeStart(value: string | string[] | undefined): number | null {
  const text = Array.isArray(value) ? value[0] : value;
  const match = /^bytes (\d+)-\d+\/(\d+|\*)$/.exec(text ?? '');
  return match ? Number(match[1]) : null;
}

async function fsyncFile(file: string): Promise<void> {
  const handle = await open(file, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

/**
 * sha256 of the file as written. Computed from disk after the transfer rather than on the fly, so resumed
 * transfers need no hash state carried across attempts; the page cache makes this read cheap.
 */
async function sha256Of(file: string): Promise<string> {
  const hash: Hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}
