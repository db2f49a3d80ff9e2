import { afterAll, afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { buildTestRepos, describeRepo, TEST_REPOS, type FixtureRepo } from './fixtures.js';
import { HubAdmin } from './hub-admin.js';
import { startHubServer, type HubServer } from './hub-server.js';
import { commitFiles, lfsPointer, setRef } from './repo-store.js';

/** The server in this process, on its own fixture repos (no global peers needed). */
let root: string;
let hub: HubServer;
let repos: Record<keyof typeof TEST_REPOS, FixtureRepo>;
const TOKEN = 'hf_unit_granted';
const DENIED = 'hf_unit_denied';
let now = Date.now();

beforeAll(async () => {
  root = await mkdtemp(path.join(tmpdir(), 'hub-server-test-'));
  repos = await buildTestRepos(root);
  hub = await startHubServer({
    reposDir: root,
    treePageSize: 7,
    tokens: { [TOKEN]: { user: 'u', gatedAccess: true }, [DENIED]: { user: 'd', gatedAccess: false } },
    now: () => now,
  });
});

afterAll(async () => {
  await hub.close();
  await rm(root, { recursive: true, force: true });
});

afterEach(() => {
  hub.reset();
  now = Date.now();
});

/** Lets the server log a response the client has already read in full. */
async function settle(): Promise<void> {
  await new Promise((r) => setTimeout(r, 50));
}

function gitBlobSha1(content: Buffer | string): string {
  const buf = Buffer.isBuffer(content) ? content : Buffer.from(content);
  return createHash('sha1').update(`blob ${buf.length}\0`).update(buf).digest('hex');
}

function sha256(buf: Buffer): string {
  return createHash('sha256').update(buf).digest('hex');
}

async function get(url: string, init: RequestInit = {}): Promise<Response> {
  return fetch(url.startsWith('http') ? url : `${hub.url}${url}`, { redirect: 'manual', ...init });
}

async function listAll(url: string): Promise<{ pages: number; paths: string[] }> {
  const paths: string[] = [];
  let next: string | undefined = `${hub.url}${url}`;
  let pages = 0;
  while (next) {
    const res = await get(next);
    pages++;
    paths.push(...((await res.json()) as { path: string }[]).map((e) => e.path));
    next = /<(https?:[^>]+)>;\s+rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
  }
  return { pages, paths };
}

describe('resolve', () => {
  it('redirects a regular file to its commit-pinned resolve-cache URL, which serves it with its git blob sha1 as ETag', async () => {
    const head = await get(`/${TEST_REPOS.tiny}/resolve/main/config.json`, { method: 'HEAD' });
    const location = head.headers.get('location')!;
    const pinned = await get(location, { method: 'HEAD' });
    const body = Buffer.from(
      await (await get(`/${TEST_REPOS.tiny}/resolve/main/config.json`, { redirect: 'follow' })).arrayBuffer(),
    );

    expect(head.status).toBe(307);
    expect(head.headers.get('x-repo-commit')).toBe(repos.tiny.commit);
    expect(location).toMatch(
      new RegExp(`^/api/resolve-cache/models/${TEST_REPOS.tiny}/${repos.tiny.commit}/config.json\\?`),
    );
    expect(pinned.status).toBe(200);
    expect(pinned.headers.get('etag')).toBe(`"${gitBlobSha1(body)}"`);
    expect(pinned.headers.get('x-repo-commit')).toBe(repos.tiny.commit);
    expect(pinned.headers.get('content-length')).toBe(String(body.length));
  });

  it('gzips a text file for a client that accepts it, and sends it as is otherwise', async () => {
    const url = `/api/resolve-cache/models/${TEST_REPOS.tiny}/${repos.tiny.commit}/tokenizer.json`;
    const zipped = await get(url, { headers: { 'Accept-Encoding': 'gzip' } });
    const plain = await get(url, { headers: { 'Accept-Encoding': 'identity' } });

    const body = Buffer.from(await zipped.arrayBuffer()); // fetch decodes gzip
    expect(zipped.headers.get('content-encoding')).toBe('gzip');
    expect(zipped.headers.get('content-length')).toBeNull();
    expect(gitBlobSha1(body)).toBe(repos.tiny.files['tokenizer.json']!.oid);
    expect(plain.headers.get('content-encoding')).toBeNull();
    expect(plain.headers.get('content-length')).toBe(String(repos.tiny.files['tokenizer.json']!.size));
  });

  it('serves files of gated repos directly, without the resolve-cache redirect', async () => {
    const res = await get(`/${TEST_REPOS.gated}/resolve/main/config.json`, {
      method: 'HEAD',
      headers: { Authorization: `Bearer ${TOKEN}` },
    });

    expect(res.status).toBe(200);
    expect(res.headers.get('etag')).toBe(`"${repos.gated.files['config.json']!.oid}"`);
  });

  it('redirects an LFS file with 302 to a signed URL on the CDN origin, with X-Linked-Etag and X-Linked-Size', async () => {
    const file = 'model-00002-of-00002.safetensors';
    const res = await get(`/${TEST_REPOS.tiny}/resolve/${repos.tiny.commit}/${file}`, { method: 'HEAD' });
    const want = repos.tiny.files[file]!;

    expect(res.status).toBe(302);
    expect(res.headers.get('x-linked-etag')).toBe(`"${want.sha256}"`);
    expect(res.headers.get('x-linked-size')).toBe(String(want.size));
    // the plain ETag is the pointer's git oid: a client that reads it instead of X-Linked-Etag gets a wrong etag
    expect(res.headers.get('etag')).toBe(`"${gitBlobSha1(lfsPointer(want.sha256, want.size))}"`);
    const location = res.headers.get('location')!;
    expect(new URL(location).origin).toBe(hub.cdnUrl);
    const blob = Buffer.from(await (await get(location)).arrayBuffer());
    expect(sha256(blob)).toBe(want.sha256);
  });

  it('answers a Range with 206 and Content-Range, and an unsatisfiable one with 416', async () => {
    const url = `/api/resolve-cache/models/${TEST_REPOS.tiny}/${repos.tiny.commit}/README.md`;
    const whole = Buffer.from(await (await get(url)).arrayBuffer());

    const part = await get(url, { headers: { Range: 'bytes=2-5' } });
    const tail = await get(url, { headers: { Range: 'bytes=-3' } });
    const bad = await get(url, { headers: { Range: `bytes=${whole.length}-` } });

    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe(`bytes 2-5/${whole.length}`);
    expect(Buffer.from(await part.arrayBuffer())).toEqual(whole.subarray(2, 6));
    expect(Buffer.from(await tail.arrayBuffer())).toEqual(whole.subarray(whole.length - 3));
    expect(bad.status).toBe(416);
    expect(bad.headers.get('content-range')).toBe(`bytes */${whole.length}`);
  });

  it('names each missing thing with the X-Error-Code huggingface_hub maps to an exception', async () => {
    const codes = async (url: string, init?: RequestInit): Promise<[number, string | null]> => {
      const res = await get(url, { method: 'HEAD', ...init });
      return [res.status, res.headers.get('x-error-code')];
    };
    const bearer = (t: string): RequestInit => ({ headers: { Authorization: `Bearer ${t}` } });

    expect(await codes(`/test-org/nope/resolve/main/config.json`)).toEqual([401, 'RepoNotFound']);
    expect(await codes(`/test-org/nope/resolve/main/config.json`, bearer(TOKEN))).toEqual([404, 'RepoNotFound']);
    expect(await codes(`/${TEST_REPOS.tiny}/resolve/nope/config.json`)).toEqual([404, 'RevisionNotFound']);
    expect(await codes(`/${TEST_REPOS.tiny}/resolve/main/nope.json`)).toEqual([404, 'EntryNotFound']);
    expect(await codes(`/${TEST_REPOS.gated}/resolve/main/config.json`)).toEqual([401, 'GatedRepo']);
    expect(await codes(`/${TEST_REPOS.gated}/resolve/main/config.json`, bearer(DENIED))).toEqual([403, 'GatedRepo']);
    expect(await codes(`/${TEST_REPOS.gated}/resolve/main/config.json`, bearer(TOKEN))).toEqual([200, null]);
    expect(await codes(`/${TEST_REPOS.private}/resolve/main/config.json`)).toEqual([401, 'RepoNotFound']);
    expect(await codes(`/${TEST_REPOS.private}/resolve/main/config.json`, bearer(TOKEN))).toEqual([200, null]);
    expect(await codes(`/${TEST_REPOS.tiny}/resolve/main/config.json`, bearer('hf_wrong'))).toEqual([401, null]);
  });

  it('redirects a renamed repo with a relative 307 Location', async () => {
    const res = await get(`/${TEST_REPOS.renamedFrom}/resolve/main/config.json`, { method: 'HEAD' });

    expect(res.status).toBe(307);
    expect(res.headers.get('location')).toBe(`/${TEST_REPOS.renamed}/resolve/main/config.json`);
  });

  it('serves the new commit after a branch moves, and the old one by its sha', async () => {
    const repo = TEST_REPOS.manyFiles;
    const before = describeRepo(root, repo).commit;
    const after = await commitFiles({ root, repo, files: { 'config.json': '{"v":2}\n' } });
    try {
      const res = await get(`/api/models/${repo}/revision/main`);
      const old = await get(`/${repo}/resolve/${before}/config.json`);

      expect(((await res.json()) as { sha: string }).sha).toBe(after);
      expect(after).not.toBe(before);
      expect(old.headers.get('x-repo-commit')).toBe(before);
    } finally {
      await setRef({ root, repo, kind: 'branch', name: 'main', commit: before });
    }
  });
});

describe('CDN', () => {
  it('refuses a URL whose signature was tampered with, or that expired', async () => {
    const file = 'model-00001-of-00002.safetensors';
    const head = await get(`/${TEST_REPOS.tiny}/resolve/main/${file}`, { method: 'HEAD' });
    const location = new URL(head.headers.get('location')!);

    const tampered = new URL(location);
    tampered.searchParams.set('Expires', String(Number(location.searchParams.get('Expires')) + 10));
    expect((await get(tampered.toString())).status).toBe(403);
    now += 3601 * 1000;
    expect((await get(location.toString())).status).toBe(403);
  });

  it('records whether a client sent its token to the CDN', async () => {
    const head = await get(`/${TEST_REPOS.tiny}/resolve/main/model-00001-of-00002.safetensors`, { method: 'HEAD' });
    const mark = hub.log.lastSeq;

    await (await get(head.headers.get('location')!, { headers: { Authorization: `Bearer ${TOKEN}` } })).arrayBuffer();
    await settle();

    expect(hub.log.stats(mark).cdnRequestsWithAuthorization).toBe(1);
  });
});

describe('tree and paths-info', () => {
  it('pages a recursive listing through absolute Link URLs and lists every file and folder once', async () => {
    const { pages, paths } = await listAll(`/api/models/${TEST_REPOS.manyFiles}/tree/main?recursive=true`);

    const files = Object.keys(repos.manyFiles.files);
    expect(paths.filter((p) => files.includes(p)).sort()).toEqual(files.sort());
    expect(paths.filter((p) => !files.includes(p)).sort()).toEqual(['a', 'b', 'b/c']);
    expect(pages).toBe(Math.ceil(paths.length / 7));
  });

  it('lists one folder without recursion, and gives LFS files their sha256 as lfs.oid', async () => {
    const top = await (await get(`/api/models/${TEST_REPOS.tiny}/tree/main/sub`)).json();
    const lfs = (
      (await (await get(`/api/models/${TEST_REPOS.tiny}/tree/main`)).json()) as {
        path: string;
        lfs?: { oid: string };
      }[]
    ).find((e) => e.path === 'model-00001-of-00002.safetensors');

    expect(top).toEqual([expect.objectContaining({ type: 'directory', path: 'sub/dir' })]);
    expect(lfs?.lfs?.oid).toBe(repos.tiny.files['model-00001-of-00002.safetensors']!.sha256);
  });

  it('answers paths-info from a JSON body (huggingface.js) and a form body (huggingface_hub)', async () => {
    const url = `/api/models/${TEST_REPOS.tiny}/paths-info/main`;
    const asJson = await get(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ paths: ['config.json', 'missing.txt'] }),
    });
    const asForm = await get(url, {
      method: 'POST',
      headers: { 'Content-Type': 'application/x-www-form-urlencoded' },
      body: 'paths=config.json&paths=sub%2Fdir&expand=False',
    });

    expect(((await asJson.json()) as { path: string }[]).map((e) => e.path)).toEqual(['config.json']);
    expect(((await asForm.json()) as { path: string }[]).map((e) => e.path)).toEqual(['config.json', 'sub/dir']);
  });

  it('serves the fixture repo whose file names climb out, are absolute or hold a backslash', async () => {
    const { paths } = await listAll(`/api/models/${TEST_REPOS.hostile}/tree/main?recursive=true`);

    expect(paths).toEqual(expect.arrayContaining(['../escape.txt', '/etc/passwd-x', 'a\\b.txt']));
  });
});

describe('faults', () => {
  it('answers 429 with Retry-After and a RateLimit header saying nothing remains, `times` times', async () => {
    hub.faults.add({
      match: { endpoint: 'revision' },
      action: { kind: 'status', status: 429, retryAfter: 7 },
      times: 1,
    });
    const url = `/api/models/${TEST_REPOS.tiny}/revision/main`;

    const first = await get(url);
    const second = await get(url);

    expect(first.status).toBe(429);
    expect(first.headers.get('retry-after')).toBe('7');
    expect(first.headers.get('ratelimit')).toBe('"api";r=0;t=7');
    expect(first.headers.get('ratelimit-policy')).toMatch(/^"fixed window";"api";q=\d+;w=\d+$/);
    expect(second.status).toBe(200);
  });

  it('drops the connection after N body bytes', async () => {
    hub.faults.add({ match: { endpoint: 'cdn' }, action: { kind: 'drop', afterBytes: 1000 } });
    const head = await get(`/${TEST_REPOS.tiny}/resolve/main/model-00001-of-00002.safetensors`, { method: 'HEAD' });
    const mark = hub.log.lastSeq;

    const res = await get(head.headers.get('location')!);
    await expect(res.arrayBuffer()).rejects.toThrow();
    await settle();

    expect(hub.log.list({ since: mark }).map((e) => [e.bytes, e.aborted])).toEqual([[1000, true]]);
  });

  it('corrupts one byte of a body, keeping its length', async () => {
    hub.faults.add({ match: { endpoint: 'cdn' }, action: { kind: 'corrupt', atByte: 5 }, times: 1 });
    const file = repos.tiny.files['model-00002-of-00002.safetensors']!;
    const head = await get(`/${TEST_REPOS.tiny}/resolve/main/model-00002-of-00002.safetensors`, { method: 'HEAD' });

    const bad = Buffer.from(await (await get(head.headers.get('location')!)).arrayBuffer());
    const good = Buffer.from(await (await get(head.headers.get('location')!)).arrayBuffer());

    expect(bad.length).toBe(file.size);
    expect(sha256(bad)).not.toBe(file.sha256);
    expect(sha256(good)).toBe(file.sha256);
    expect(bad[5]).toBe(good[5]! ^ 0xff);
  });

  it('throttles a body to the given rate', async () => {
    hub.faults.add({
      match: { endpoint: 'resolve-cache', path: 'tokenizer.json' },
      action: { kind: 'throttle', bytesPerSecond: 400 },
    });
    const started = Date.now();

    const res = await get(`/${TEST_REPOS.tiny}/resolve/main/tokenizer.json`, { redirect: 'follow' });
    const body = await res.arrayBuffer();

    expect(res.url).toContain('/api/resolve-cache/');
    expect(body.byteLength).toBe(repos.tiny.files['tokenizer.json']!.size);
    expect(Date.now() - started).toBeGreaterThanOrEqual((body.byteLength / 400) * 1000 * 0.8);
  });

  it('adds traversal names to a listing, and can make a repo gated or missing', async () => {
    hub.faults.add({ match: { endpoint: 'tree', repo: TEST_REPOS.tiny }, action: { kind: 'hostile-names' } });
    hub.faults.add({ match: { endpoint: 'resolve', repo: TEST_REPOS.tiny }, action: { kind: 'gated' }, times: 1 });
    hub.faults.add({ match: { endpoint: 'revision', repo: TEST_REPOS.tiny }, action: { kind: 'missing' }, times: 1 });

    const tree = await listAll(`/api/models/${TEST_REPOS.tiny}/tree/main`);
    const gated = await get(`/${TEST_REPOS.tiny}/resolve/main/config.json`, { method: 'HEAD' });
    const missing = await get(`/api/models/${TEST_REPOS.tiny}/revision/main`);

    expect(tree.paths).toEqual(expect.arrayContaining(['../escape.txt', '/etc/passwd-x', 'a\\b.txt']));
    expect([gated.status, gated.headers.get('x-error-code')]).toEqual([401, 'GatedRepo']);
    expect([missing.status, missing.headers.get('x-error-code')]).toEqual([401, 'RepoNotFound']);
  });

  it('rate-limits the API per window, shared by every caller, with Retry-After until the window resets', async () => {
    hub.config = { ...hub.config, rateLimits: { api: 2, resolvers: 100, windowSeconds: 300 } };
    const url = `/api/models/${TEST_REPOS.tiny}/revision/main`;

    const statuses = [(await get(url)).status, (await get(url)).status];
    const limited = await get(url);

    expect(statuses).toEqual([200, 200]);
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(limited.headers.get('ratelimit')).toMatch(/^"api";r=0;t=\d+$/);
  });
});

describe('refs', () => {
  it('lists branches and tags with their commits, as list_repo_refs reads them', async () => {
    const res = await get(`/api/models/${TEST_REPOS.tiny}/refs`);

    expect(await res.json()).toEqual({
      branches: [{ name: 'main', ref: 'refs/heads/main', targetCommit: repos.tiny.commit }],
      converts: [],
      tags: [{ name: 'v1.0', ref: 'refs/tags/v1.0', targetCommit: repos.tiny.commit }],
    });
  });
});

describe('HubAdmin', () => {
  it('adds a rule that skips N requests then applies M times, and reports seen/applied', async () => {
    const admin = new HubAdmin(hub.adminUrl);
    const id = await admin.addFault({
      match: { endpoint: 'revision', repo: TEST_REPOS.tiny },
      action: { kind: 'status', status: 503 },
      skip: 1,
      times: 2,
    });
    const url = `/api/models/${TEST_REPOS.tiny}/revision/main`;

    const statuses = [];
    for (let i = 0; i < 4; i++) statuses.push((await get(url)).status);

    expect(statuses).toEqual([200, 503, 503, 200]);
    expect(await admin.faults()).toEqual([expect.objectContaining({ id, seen: 3, applied: 2 })]);
    await admin.removeFault(id);
    expect(await admin.faults()).toEqual([]);
  });

  it('counts requests and bytes per endpoint since a mark, and changes the config at runtime', async () => {
    const admin = new HubAdmin(hub.adminUrl);
    const mark = await admin.mark();
    await admin.setConfig({ treePageSize: 1000 });

    const res = await get(`/api/models/${TEST_REPOS.manyFiles}/tree/main?recursive=true`);
    const body = await res.arrayBuffer();
    await settle();
    const stats = await admin.stats(mark);
    await admin.reset();

    expect(res.headers.get('link')).toBeNull();
    expect(stats.requests).toBe(1);
    expect(stats.byEndpoint.tree).toEqual({ requests: 1, bytes: body.byteLength, byStatus: { '200': 1 } });
    expect((await admin.config()).treePageSize).toBe(7);
  });
});
