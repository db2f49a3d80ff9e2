import path from 'node:path';
import { z } from 'zod';
import { repoFolderName } from './cache-paths.js';
import { readJsonOrNull, writeJsonAtomic } from './write-json-atomic.js';

/**
 * What the agent itself wrote into one repo of the cache: eviction deletes only these, so a pod's own
 * downloads into the same cache are left alone. Kept in the agent's state dir, outside `HF_HUB_CACHE`.
 */
export const RepoLedger = z.object({
  /** etags of blobs the agent published */
  blobs: z.array(z.string()).default([]),
  /** `{commit}/{path}` of snapshot links the agent created */
  links: z.array(z.string()).default([]),
  /** `{revision}` refs the agent wrote */
  refs: z.array(z.string()).default([]),
});
export type RepoLedger = z.infer<typeof RepoLedger>;

function ledgerPath(stateDir: string, repo: string): string {
  return path.join(stateDir, 'owned', `${repoFolderName(repo)}.json`);
}

/** Serializes read-modify-write of one ledger file inside this process. */
const queues = new Map<string, Promise<unknown>>();

/** The ledger of `repo` (empty when none). */
export async function readLedger(stateDir: string, repo: string): Promise<RepoLedger> {
  const parsed = RepoLedger.safeParse(await readJsonOrNull(ledgerPath(stateDir, repo)));
  return parsed.success ? parsed.data : { blobs: [], links: [], refs: [] };
}

/** Applies `change` to the ledger of `repo` and saves it atomically (one change at a time per file). */
export async function updateLedger(
  stateDir: string,
  repo: string,
  change: (ledger: RepoLedger) => void,
): Promise<void> {
  const file = ledgerPath(stateDir, repo);
  const previous = queues.get(file) ?? Promise.resolve();
  const next = previous
    .catch(() => undefined)
    .then(async () => {
      const ledger = await readLedger(stateDir, repo);
      change(ledger);
      ledger.blobs = [...new Set(ledger.blobs)];
      ledger.links = [...new Set(ledger.links)];
      ledger.refs = [...new Set(ledger.refs)];
      await writeJsonAtomic(file, ledger);
    });
  queues.set(file, next);
  try {
    await next;
  } finally {
    if (queues.get(file) === next) queues.delete(file);
  }
}
