import path from 'node:path';
import { z } from 'zod';
import { repoFolderName } from './cache-paths.js';
import { createGroupCommit } from './group-commit.js';
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

/** One caller's change, and what it threw (that caller alone gets the error). */
interface LedgerChange {
  change: (ledger: RepoLedger) => void;
  failed?: { error: unknown };
}

/** One group committer per ledger file in this process (read-modify-write of a file is never concurrent). */
const committers = new Map<string, (change: LedgerChange) => Promise<void>>();

/** The ledger of `repo` (empty when none). */
export async function readLedger(stateDir: string, repo: string): Promise<RepoLedger> {
  const parsed = RepoLedger.safeParse(await readJsonOrNull(ledgerPath(stateDir, repo)));
  return parsed.success ? parsed.data : { blobs: [], links: [], refs: [] };
}

/**
 * Applies `change` to the ledger of `repo` and saves it atomically; resolves once the change is on disk
 * (fsynced and renamed into place), so a caller may then publish what the change records. Concurrent changes
 * to one ledger share one write and one fsync (group commit): a download of many small files in parallel
 * wrote and fsynced the whole ledger once per file.
 */
export async function updateLedger(
  stateDir: string,
  repo: string,
  change: (ledger: RepoLedger) => void,
): Promise<void> {
  const file = ledgerPath(stateDir, repo);
  let commit = committers.get(file);
  if (commit === undefined) {
    commit = createGroupCommit<LedgerChange>(
      (changes) => saveChanges(stateDir, repo, changes),
      () => {
        if (committers.get(file) === commit) committers.delete(file);
      },
    );
    committers.set(file, commit);
  }
  const entry: LedgerChange = { change };
  await commit(entry);
  if (entry.failed) throw entry.failed.error;
}

/** One read-modify-write: every change in order (one that throws is undone and left out), then one atomic save. */
async function saveChanges(stateDir: string, repo: string, changes: LedgerChange[]): Promise<void> {
  let ledger = await readLedger(stateDir, repo);
  for (const entry of changes) {
    const before = structuredClone(ledger);
    try {
      entry.change(ledger);
    } catch (error) {
      entry.failed = { error };
      ledger = before;
    }
  }
  ledger.blobs = [...new Set(ledger.blobs)];
  ledger.links = [...new Set(ledger.links)];
  ledger.refs = [...new Set(ledger.refs)];
  await writeJsonAtomic(ledgerPath(stateDir, repo), ledger);
}
