import { readdir } from 'node:fs/promises';
import path from 'node:path';
import { z } from 'zod';
import { evictSnapshot, ownedCommits } from '../../shared/hf-cache/evict-snapshot.js';
import { readJsonOrNull, writeJsonAtomic } from '../../shared/hf-cache/write-json-atomic.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { ModelState } from './model-state.js';

const Pending = z.record(z.string(), z.iso.datetime());

/**
 * Deletes snapshots the agent wrote that the current targets no longer want, once they have been unwanted for
 * `graceSeconds` (the first time each was seen unwanted is kept in the state dir, so a restart does not reset
 * the clock). A repo still targeted but not ready keeps all its snapshots: a Hub outage must not evict.
 * @returns the `repo@commit` entries evicted
 */
export async function evictUnwanted(params: {
  cacheDir: string;
  stateDir: string;
  states: readonly ModelState[];
  graceSeconds: number;
  /**
   * `repo@commit` of the snapshots a Ready pod on this node serves (a dropped model stays while a Service uses
   * it); null when unknown (the pods could not be listed): then nothing is evicted this pass
   */
  inUse?: ReadonlySet<string> | null;
  now: Date;
  log: Logger;
}): Promise<string[]> {
  const file = path.join(params.stateDir, 'eviction-pending.json');
  const parsed = Pending.safeParse(await readJsonOrNull(file));
  const pending: Record<string, string> = parsed.success ? parsed.data : {};
  const candidates = await unwantedSnapshots(params.stateDir, params.states);
  const next: Record<string, string> = {};
  const evicted: string[] = [];
  for (const { repo, commit } of candidates) {
    const key = `${repo}@${commit}`;
    const since = pending[key] ?? params.now.toISOString();
    const inUse = params.inUse === undefined ? false : params.inUse === null || params.inUse.has(key);
    if (inUse || params.now.getTime() - Date.parse(since) < params.graceSeconds * 1000) {
      if (inUse) params.log.info({ repo, commit }, 'kept: a Ready pod on this node serves it');
      next[key] = since;
      continue;
    }
    const result = await evictSnapshot({ cacheDir: params.cacheDir, stateDir: params.stateDir, repo, commit });
    if (result.keptBecause) {
      params.log.warn({ repo, commit, reason: result.keptBecause }, 'eviction skipped');
      next[key] = since;
    } else {
      params.log.info({ repo, commit, ...result }, 'model evicted');
      evicted.push(key);
    }
  }
  await writeJsonAtomic(file, next);
  return evicted;
}

async function unwantedSnapshots(
  stateDir: string,
  states: readonly ModelState[],
): Promise<{ repo: string; commit: string }[]> {
  const targeted = targetedCommits(states);
  const out: { repo: string; commit: string }[] = [];
  for (const repo of await ledgerRepos(stateDir)) {
    const keep = targeted.get(repo);
    if (keep === null) continue;
    for (const commit of await ownedCommits(stateDir, repo)) if (!keep?.has(commit)) out.push({ repo, commit });
  }
  return out;
}

/** The commits each targeted repo keeps; `null`: a model of that repo is not ready (or its commit unknown), keep all. */
function targetedCommits(states: readonly ModelState[]): Map<string, Set<string> | null> {
  const targeted = new Map<string, Set<string> | null>();
  for (const s of states) {
    const prev = targeted.get(s.repo);
    if (prev === null) continue;
    // not ready (or commit unknown): keep everything of this repo
    if (s.state !== 'ready' || s.commit === null) targeted.set(s.repo, null);
    else targeted.set(s.repo, new Set([...(prev ?? []), s.commit]));
  }
  return targeted;
}

/**
 * Repos the agent has a ledger for (`owned/models--org--name.json`, `owned/models--gpt2.json` for an id without
 * org; `--` never occurs inside a repo id).
 */
export async function ledgerRepos(stateDir: string): Promise<string[]> {
  const names = await readdir(path.join(stateDir, 'owned')).catch(() => [] as string[]);
  return names
    .map((n) => /^models--(.+)\.json$/.exec(n))
    .filter((m): m is RegExpExecArray => m !== null)
    .map((m) => m[1]!.split('--').join('/'));
}
