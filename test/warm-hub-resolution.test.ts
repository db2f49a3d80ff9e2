import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp } from 'node:fs/promises';
import path from 'node:path';
import { resolveModel } from '../shared/hub/resolve-model.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { hfListRepoTree, runHfScript } from '../testkit/peers/hf-oracle.js';
import { readHub, type HubInfo } from '../testkit/peers/hub.js';
import { readPeers } from '../testkit/peers/peer-run.js';

/**
 * warm's Hub resolution (shared/hub/resolve-*.ts) against the local Hub, with huggingface_hub (Python) as the
 * oracle: the same file list as `HfApi.list_repo_tree`, the same pattern filtering as `filter_repo_objects`.
 */
let hub: HubInfo;
let admin: HubAdmin;

beforeAll(() => {
  hub = readHub();
  admin = new HubAdmin(hub.adminUrl);
});

afterEach(async () => {
  await admin.reset();
});

const spec = (overrides: { revision?: string; allow?: string[]; ignore?: string[] } = {}) => ({
  gpu_compatible: ['ALL'],
  revision: overrides.revision ?? 'main',
  ...(overrides.allow ? { allow_patterns: overrides.allow } : {}),
  ...(overrides.ignore ? { ignore_patterns: overrides.ignore } : {}),
});

/** huggingface_hub's own `filter_repo_objects` over `paths`. */
async function pythonFilter(paths: string[], allow?: string[], ignore?: string[]): Promise<string[]> {
  const script = [
    'import json',
    'from huggingface_hub.utils import filter_repo_objects',
    `paths = json.loads(${JSON.stringify(JSON.stringify(paths))})`,
    `allow = json.loads(${JSON.stringify(JSON.stringify(allow ?? null))})`,
    `ignore = json.loads(${JSON.stringify(JSON.stringify(ignore ?? null))})`,
    'print(json.dumps(list(filter_repo_objects(paths, allow_patterns=allow, ignore_patterns=ignore))))',
  ].join('\n');
  return runHfScript<string[]>({ cacheDir: await mkdtemp(path.join(readPeers().runDir, 'hf-filter-')), script });
}

describe('resolveModel against the local Hub', () => {
  it('lists every file of a repo across tree pages, as huggingface_hub lists them', async () => {
    const repo = hub.repos.manyFiles.id;
    const mark = await admin.mark();
    const { model, requests } = await resolveModel({ access: { hubUrl: hub.url }, repo, spec: spec() });
    expect(model.status).toBe('ok');
    expect(model.commit).toBe(hub.repos.manyFiles.commit);
    // counted by the Hub itself, before the oracle below makes its own requests
    const stats = await admin.stats(mark);
    expect(stats.byEndpoint.tree?.requests).toBe(requests.tree);
    expect(stats.byEndpoint.revision?.requests).toBe(1);

    const oracle = await hfListRepoTree({ endpoint: hub.url, repo, recursive: true });
    expect(oracle.ok).toBe(true);
    const files = (oracle.entries ?? []).filter((e) => e.type === 'file');
    expect(model.files).toEqual(
      files
        .map((f) => ({ path: f.path, size: f.size, oid: f.oid, ...(f.lfsSha256 ? { lfsSha256: f.lfsSha256 } : {}) }))
        .sort((a, b) => (a.path < b.path ? -1 : 1)),
    );
    // files + folders, one request per page of the server's page size
    const entries = (oracle.entries ?? []).length;
    expect(requests.tree).toBe(Math.ceil(entries / hub.treePageSize));
    expect(requests.tree).toBeGreaterThan(1);
  });

  it.each([
    [['*.txt'], undefined],
    [['a/*'], ['*-00?.txt']],
    [['b/'], undefined],
    [undefined, ['*.json', 'file-0[0-4]*']],
    [['file-01[!0-4].txt', 'config.json'], undefined],
  ])('filters with allow %j / ignore %j exactly as filter_repo_objects', async (allow, ignore) => {
    const repo = hub.repos.manyFiles.id;
    const { model } = await resolveModel({
      access: { hubUrl: hub.url },
      repo,
      spec: spec({ ...(allow ? { allow } : {}), ...(ignore ? { ignore } : {}) }),
    });
    const all = Object.keys(hub.repos.manyFiles.files);
    const expected = (await pythonFilter(all, allow, ignore)).sort();
    expect(expected.length).toBeGreaterThan(0);
    expect(model.files.map((f) => f.path)).toEqual(expected);
    expect(model.totalBytes).toBe(expected.reduce((n, p) => n + hub.repos.manyFiles.files[p]!.size, 0));
  });

  it('waits out a 429 with Retry-After and then resolves', async () => {
    await admin.addFault({
      match: { endpoint: 'revision', repo: hub.repos.tiny.id },
      action: { kind: 'status', status: 429, retryAfter: 1 },
      times: 1,
    });
    const started = Date.now();
    const { model, requests } = await resolveModel({
      access: { hubUrl: hub.url },
      repo: hub.repos.tiny.id,
      spec: spec(),
      retry: { baseDelayMs: 10 },
    });
    expect(model.status).toBe('ok');
    expect(requests.revision).toBe(2);
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
  });

  it('follows a renamed repo to its new name', async () => {
    const { model } = await resolveModel({ access: { hubUrl: hub.url }, repo: 'test-org/old-name', spec: spec() });
    expect(model).toMatchObject({ status: 'ok', commit: hub.repos.renamed.commit });
  });

  it('resolves a tag to its commit', async () => {
    const { model } = await resolveModel({
      access: { hubUrl: hub.url },
      repo: hub.repos.tiny.id,
      spec: spec({ revision: 'v1.0' }),
    });
    expect(model).toMatchObject({ status: 'ok', revision: 'v1.0', commit: hub.repos.tiny.tags['v1.0'] });
  });

  it('refuses a repo whose listing climbs out of the snapshot, naming the path', async () => {
    const { model } = await resolveModel({ access: { hubUrl: hub.url }, repo: hub.repos.hostile.id, spec: spec() });
    expect(model.status).toBe('error');
    expect(model.message).toMatch(/unsafe file path ".*" \((absolute path|backslash in path|"\.\." segment in path)\)/);
    expect(model.files).toEqual([]);
  });

  it('reports a gated repo as gated for a token without access, and resolves it with a granted one', async () => {
    const denied = await resolveModel({
      access: { hubUrl: hub.url, token: hub.tokenWithoutAccess },
      repo: hub.repos.gated.id,
      spec: spec(),
    });
    expect(denied.model.status).toBe('gated');
    expect(denied.model.message).not.toContain(hub.tokenWithoutAccess);
    const granted = await resolveModel({
      access: { hubUrl: hub.url, token: hub.token },
      repo: hub.repos.gated.id,
      spec: spec(),
    });
    expect(granted.model).toMatchObject({ status: 'ok', commit: hub.repos.gated.commit });
  });
});
