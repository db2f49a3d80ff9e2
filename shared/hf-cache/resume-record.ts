import { unlink } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { repoFolderName } from './cache-paths.js';
import { readJsonOrNull, writeJsonAtomic } from './write-json-atomic.js';

/**
 * Where an interrupted blob download left its bytes. Kept OUTSIDE `HF_HUB_CACHE` (in the agent's state dir):
 * huggingface_hub only resumes within a process, so resuming across restarts is ours, and the cache must
 * hold nothing that its tools would misread.
 */
export const ResumeRecord = z.object({
  /** file name of the partial download inside `blobs/` */
  temp: z.string().regex(/^\.modelctl-[0-9a-f]{40,64}\.[0-9a-f]{12}\.part$/),
  size: z.number().int().nonnegative(),
});
export type ResumeRecord = z.infer<typeof ResumeRecord>;

function recordPath(stateDir: string, repo: string, etag: string): string {
  return path.join(stateDir, 'partial', repoFolderName(repo), `${etag}.json`);
}

/** The record of an interrupted download of `etag`, or null. */
export async function readResumeRecord(stateDir: string, repo: string, etag: string): Promise<ResumeRecord | null> {
  const parsed = ResumeRecord.safeParse(await readJsonOrNull(recordPath(stateDir, repo, etag)));
  return parsed.success ? parsed.data : null;
}

/** Saves the record before the first byte is written, so a kill at any point leaves a resumable file. */
export async function writeResumeRecord(
  stateDir: string,
  repo: string,
  etag: string,
  record: ResumeRecord,
): Promise<void> {
  await writeJsonAtomic(recordPath(stateDir, repo, etag), record);
}

/** Forgets the record once the blob is published or the partial file is dropped. */
export async function deleteResumeRecord(stateDir: string, repo: string, etag: string): Promise<void> {
  await unlink(recordPath(stateDir, repo, etag)).catch(() => undefined);
}

/** The partial file name pattern: `.modelctl-{etag}.{12 hex}.part` (never `.incomplete`, which huggingface_hub owns). */
export function partialFileEtag(name: string): string | null {
  const m = /^\.modelctl-([0-9a-f]{40,64})\.[0-9a-f]{12}\.part$/.exec(name);
  return m?.[1] ?? null;
}
