import { afterEach, beforeAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import {
  hfHubDownload,
  hfListRepoTree,
  hfSnapshotDownload,
  hfVerifyChecksums,
  runHfOracle,
} from '../testkit/peers/hf-oracle.js';
import { readHub, type HubInfo } from '../testkit/peers/hub.js';
import { readPeers } from '../testkit/peers/peer-run.js';

/**
 * The local Hub against the real huggingface_hub: if Python's client accepts our server, and our server's
 * answers are what the Hub documents, the downloader tested against it will work against the Hub.
 */
let hub: HubInfo;
let admin: HubAdmin;

async function freshCache(): Promise<string> {
  return mkdtemp(path.join(readPeers().runDir, 'hf-cache-'));
}

beforeAll(() => {
  hub = readHub();
  admin = new HubAdmin(hub.adminUrl);
});

afterEach(async () => {
  await admin.reset();
});

describe('local Hub with huggingface_hub', () => {
  it('serves a snapshot that snapshot_download stores and scan_cache_dir accepts with no warnings', async () => {
    const cacheDir = await freshCache();
    const tiny = hub.repos.tiny;

    const got = await hfSnapshotDownload({ endpoint: hub.url, repo: tiny.id, cacheDir });
    expect(got.error).toBeUndefined();
    expect(got.files).toEqual(Object.keys(tiny.files).sort());

    const report = await runHfOracle({ cacheDir, checks: [{ repo: tiny.id }] });
    expect(report.scan.warnings).toEqual([]);
    expect(report.scan.repos).toHaveLength(1);
    expect(report.scan.repos[0]!.refs).toEqual({ main: tiny.commit });
    const byPath = Object.fromEntries(report.downloads.map((d) => [d.path, d]));
    for (const [file, want] of Object.entries(tiny.files)) {
      expect({ file, sha256: byPath[file]?.sha256 }).toEqual({ file, sha256: want.sha256 });
      // the cache names blobs by etag: sha256 for LFS files, git blob sha1 for the others
      expect(path.basename(byPath[file]!.realPath!)).toBe(want.etag);
    }
    const verified = await hfVerifyChecksums({ endpoint: hub.url, repo: tiny.id, cacheDir });
    expect(verified).toMatchObject({
      ok: true,
      revision: tiny.commit,
      mismatches: [],
      missingPaths: [],
      extraPaths: [],
    });
    expect(verified.checkedCount).toBe(Object.keys(tiny.files).length);
  });

  it('makes the oracle fail on a broken cache: a ref ending in a newline, a snapshot link to a missing blob', async () => {
    const cacheDir = await freshCache();
    const tiny = hub.repos.tiny;
    expect((await hfSnapshotDownload({ endpoint: hub.url, repo: tiny.id, cacheDir })).ok).toBe(true);
    const repoDir = path.join(cacheDir, `models--${tiny.id.replace('/', '--')}`);
    await writeFile(path.join(repoDir, 'refs', 'main'), `${tiny.commit}\n`);

    const badRef = await runHfOracle({ cacheDir, checks: [{ repo: tiny.id, files: ['config.json'] }] });
    await writeFile(path.join(repoDir, 'refs', 'main'), tiny.commit);
    await rm(path.join(repoDir, 'blobs', tiny.files['config.json']!.etag));
    const badBlob = await runHfOracle({ cacheDir, checks: [{ repo: tiny.id, files: ['config.json'] }] });

    expect(badRef.downloads[0]!.error?.type).toBe('LocalEntryNotFoundError');
    expect(badRef.scan.warnings.join()).toMatch(/missing commit hashes/);
    expect(badBlob.downloads[0]!.ok).toBe(false);
    expect(badBlob.scan.warnings).not.toEqual([]);
  });

  it('redirects an LFS file to the CDN origin, which hf_hub_download follows without the token', async () => {
    const cacheDir = await freshCache();
    const file = 'model.safetensors';
    const gated = hub.repos.gated;
    const mark = await admin.mark();

    const got = await hfHubDownload({ endpoint: hub.url, repo: gated.id, filename: file, cacheDir, token: hub.token });

    expect(got.error).toBeUndefined();
    expect(got.sha256).toBe(gated.files[file]!.sha256);
    const seen = await admin.requests({ since: mark });
    expect(seen.filter((r) => r.path === file).map((r) => `${r.endpoint} ${r.method} ${r.status}`)).toEqual([
      'resolve HEAD 302',
      'cdn GET 200',
    ]);
    expect(seen.find((r) => r.endpoint === 'resolve')!.authorization).toBe(true);
    expect((await admin.stats(mark)).cdnRequestsWithAuthorization).toBe(0);
  });

  it('refuses a gated repo without a token (401) and with a token that has no access (403): GatedRepoError', async () => {
    const cacheDir = await freshCache();
    const repo = hub.repos.gated.id;

    const anonymous = await hfHubDownload({ endpoint: hub.url, repo, filename: 'config.json', cacheDir });
    const denied = await hfHubDownload({
      endpoint: hub.url,
      repo,
      filename: 'config.json',
      cacheDir,
      token: hub.tokenWithoutAccess,
    });
    const snapshot = await hfSnapshotDownload({ endpoint: hub.url, repo, cacheDir });

    expect([anonymous.error?.type, anonymous.error?.status]).toEqual(['GatedRepoError', 401]);
    expect([denied.error?.type, denied.error?.status]).toEqual(['GatedRepoError', 403]);
    expect(snapshot.error?.type).toBe('GatedRepoError');
  });

  it('pages the tree listing with Link headers and list_repo_tree returns every entry', async () => {
    const many = hub.repos.manyFiles;
    const mark = await admin.mark();

    const listed = await hfListRepoTree({ endpoint: hub.url, repo: many.id, recursive: true });

    const files = listed.entries!.filter((e) => e.type === 'file').map((e) => e.path);
    expect(files.sort()).toEqual(Object.keys(many.files).sort());
    const pages = (await admin.stats(mark)).byEndpoint.tree?.requests ?? 0;
    expect(pages).toBe(Math.ceil(listed.entries!.length / hub.treePageSize));
    expect(pages).toBeGreaterThan(1);
  });

  it('answers 429 with Retry-After and RateLimit headers, which hf_hub_download waits out and retries', async () => {
    const cacheDir = await freshCache();
    const tiny = hub.repos.tiny;
    await admin.addFault({
      match: { endpoint: 'resolve', path: 'config.json' },
      action: { kind: 'status', status: 429, retryAfter: 1 },
      times: 2,
    });
    const mark = await admin.mark();

    const got = await hfHubDownload({ endpoint: hub.url, repo: tiny.id, filename: 'config.json', cacheDir });

    expect(got.error).toBeUndefined();
    expect(got.sha256).toBe(tiny.files['config.json']!.sha256);
    const statuses = (await admin.requests({ since: mark }))
      .filter((r) => r.path === 'config.json')
      .map((r) => `${r.endpoint} ${r.method} ${r.status}`);
    expect(statuses).toEqual([
      'resolve HEAD 429',
      'resolve HEAD 429',
      'resolve HEAD 307',
      'resolve-cache HEAD 200',
      'resolve-cache GET 200',
    ]);
  });

  it('cuts a CDN body after N bytes, and huggingface_hub downloads the file again', async () => {
    const cacheDir = await freshCache();
    const tiny = hub.repos.tiny;
    const file = 'model-00001-of-00002.safetensors';
    await admin.addFault({
      match: { endpoint: 'cdn', path: file },
      action: { kind: 'drop', afterBytes: 1 << 20 },
      times: 1,
    });
    const mark = await admin.mark();

    const got = await hfHubDownload({ endpoint: hub.url, repo: tiny.id, filename: file, cacheDir });

    expect(got.error).toBeUndefined();
    expect(got.sha256).toBe(tiny.files[file]!.sha256);
    // huggingface_hub reads 10 MB chunks, so the 1 MB it got before the cut is not kept: it retries from 0
    const cdn = await admin.requests({ since: mark, endpoint: 'cdn' });
    expect(cdn.map((r) => [r.status, r.aborted, r.bytes])).toEqual([
      [200, true, 1 << 20],
      [200, false, tiny.files[file]!.size],
    ]);
  });

  it('follows the relative 307 of a renamed repo to the same file under the new name', async () => {
    const cacheDir = await freshCache();
    const renamed = hub.repos.renamed;

    const got = await hfHubDownload({
      endpoint: hub.url,
      repo: 'test-org/old-name',
      filename: 'weights.bin',
      cacheDir,
    });

    expect(got.error).toBeUndefined();
    expect(got.sha256).toBe(renamed.files['weights.bin']!.sha256);
  });
});
