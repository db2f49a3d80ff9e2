import { describe, expect, it } from '@jest/globals';
import type { PodUsage } from '../../shared/k8s/list-pods.js';
import { findEntriesInUse, planEviction } from './plan-eviction.js';
import type { ScannedEntry } from './scan-cache.js';

const now = new Date('2026-11-24T12:00:00Z');
const DAY = 86_400_000;

function entry(key: string, ageDays: number, bytes: number, source: ScannedEntry['source'] = null): ScannedEntry {
  return { key, dir: `/cache/entries/${key}`, bytes, lastUsed: new Date(now.getTime() - ageDays * DAY), source };
}

function pod(name: string, uri: string, phase = 'Pending'): PodUsage {
  return {
    name,
    namespace: 'ns',
    phase,
    active: phase !== 'Succeeded' && phase !== 'Failed',
    env: [{ name: 'MODEL_URI', value: uri }],
    envFrom: [],
    claims: [],
  };
}

const plan = (
  entries: ScannedEntry[],
  opts: { maxBytes?: number; inUse?: Map<string, string[]>; locked?: Set<string> } = {},
) =>
  Object.fromEntries(
    planEviction({
      entries,
      inUse: opts.inUse ?? new Map(),
      locked: opts.locked ?? new Set(),
      ttlMs: 7 * DAY,
      maxBytes: opts.maxBytes ?? 0,
      now,
    }).map((d) => [d.entry.key, `${d.action}:${d.reason}`]),
  );

describe('planEviction', () => {
  it('removes what is older than the TTL and keeps the rest when there is no size limit', () => {
    expect(plan([entry('a', 8, 10), entry('b', 6, 10)])).toEqual({ a: 'remove:ttl', b: 'keep:recent' });
  });

  it('then removes the least recently used until the cache fits', () => {
    const entries = [entry('new', 1, 40), entry('mid', 2, 30), entry('old', 3, 20), entry('expired', 9, 100)];
    expect(plan(entries, { maxBytes: 50 })).toEqual({
      new: 'keep:under-limit',
      mid: 'remove:lru',
      old: 'remove:lru',
      expired: 'remove:ttl',
    });
  });

  it('never removes an entry in use or locked, even expired or over the limit', () => {
    const entries = [entry('used', 30, 100), entry('locked', 30, 100), entry('free', 1, 10)];
    expect(plan(entries, { maxBytes: 1, inUse: new Map([['used', ['pod-a']]]), locked: new Set(['locked']) })).toEqual({
      used: 'keep:in-use',
      locked: 'keep:locked',
      free: 'remove:lru',
    });
  });
});

describe('findEntriesInUse', () => {
  const served = entry('served', 1, 1, {
    uri: 'models:/served/3',
    resolved: 'mlflow-artifacts:/1/m/artifacts',
    name: 'served',
  });
  const run = entry('run', 1, 1, { uri: 'runs:/abc/model', resolved: 'mlflow-artifacts:/1/abc/artifacts/model' });

  it('matches an hf entry to any branch or tag of its repo, and to its own commit only', () => {
    const commit = 'a'.repeat(40);
    const tiny = entry('tiny', 1, 1, {
      uri: 'hf://org/tiny@v1.0',
      resolved: `hf://org/tiny@${commit}`,
      name: 'org/tiny',
    });
    const inUse = findEntriesInUse(
      [tiny, served],
      [
        pod('branch', 'hf://org/tiny'),
        pod('commit', `hf://org/tiny@${commit}`),
        pod('other-commit', `hf://org/tiny@${'b'.repeat(40)}`),
        pod('other-repo', 'hf://org/tiny-2'),
        pod('bad-uri', 'hf://'),
      ],
    );
    expect(Object.fromEntries(inUse)).toEqual({ tiny: ['branch', 'commit'] });
  });

  it('matches the exact URI, the resolved location, and any stage or alias of the same registered model', () => {
    const inUse = findEntriesInUse(
      [served, run],
      [pod('p1', 'models:/served@champion'), pod('p2', 'runs:/abc/model'), pod('p3', 'models:/served/Production')],
    );
    expect(Object.fromEntries(inUse)).toEqual({ served: ['p1', 'p3'], run: ['p2'] });
  });

  it('a pod pinned to a version keeps only entries of that version (seen on the real cluster: /1 kept /3)', () => {
    const v1 = entry('v1', 30, 1, {
      uri: 'models:/iris/1',
      resolved: 'mlflow-artifacts:/1/a',
      name: 'iris',
      version: '1',
    });
    const v3 = entry('v3', 30, 1, {
      uri: 'models:/iris/3',
      resolved: 'mlflow-artifacts:/1/c',
      name: 'iris',
      version: '3',
    });
    const byAlias = entry('alias', 30, 1, {
      uri: 'models:/iris@champion',
      resolved: 'mlflow-artifacts:/1/b',
      name: 'iris',
      version: '2',
    });
    const unrecorded = entry('old', 30, 1, {
      uri: 'models:/iris/Production',
      resolved: 'mlflow-artifacts:/1/d',
      name: 'iris',
    });
    const entries = [v1, v3, byAlias, unrecorded];
    expect(Object.fromEntries(findEntriesInUse(entries, [pod('pinned', 'models:/iris/1')]))).toEqual({
      v1: ['pinned'],
      old: ['pinned'],
    });
    expect(Object.fromEntries(findEntriesInUse(entries, [pod('pinned2', 'models:/iris/2')]))).toEqual({
      alias: ['pinned2'],
      old: ['pinned2'],
    });
    expect([...findEntriesInUse(entries, [pod('staged', 'models:/iris/Staging')]).keys()].sort()).toEqual([
      'alias',
      'old',
      'v1',
      'v3',
    ]);
  });

  it('counts a pod whose MODEL_URI comes from a ConfigMap ref as using every entry', () => {
    const fromRef: PodUsage = { ...pod('ref', 'unused'), env: [], envFrom: ['MODEL_URI'] };
    expect(Object.fromEntries(findEntriesInUse([served, run], [fromRef]))).toEqual({ served: ['ref'], run: ['ref'] });
  });

  it('ignores finished pods and other models', () => {
    const inUse = findEntriesInUse(
      [served, run],
      [pod('done', 'models:/served/3', 'Succeeded'), pod('other', 'models:/servedx/1')],
    );
    expect(inUse.size).toBe(0);
  });
});
