import { afterAll, describe, expect, it, beforeAll } from '@jest/globals';
import { mkdtemp, readFile, readdir, rm, writeFile, lstat, unlink } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Writable } from 'node:stream';
import { runOnce } from '../functions/agent/run-once.js';
import { downloadSnapshot } from '../shared/hub/download-snapshot.js';
import { createLogger, type Logger } from '../shared/log/create-logger.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { createRepo } from '../testkit/hub-server/repo-store.js';
import { readHub, type HubInfo } from '../testkit/peers/hub.js';
import { hfSnapshotDownload, runHfOracle } from '../testkit/peers/hf-oracle.js';
import { runModelctl } from '../testkit/modelctl-process.js';

const MiB = 1024 * 1024;
const FAST_RETRY = { maxRetries: 8, baseDelayMs: 50, maxDelayMs: 5000 };

let hub: HubInfo;
let admin: HubAdmin;
const workDirs: string[] = [];

afterAll(async () => {
  for (const dir of workDirs) await rm(dir, { recursive: true, force: true });
});

beforeAll(() => {
  hub = readHub();
  admin = new HubAdmin(hub.adminUrl);
});

/** A logger whose JSON lines are kept for assertions (e.g. that no token is ever logged). */
function captureLog(): { log: Logger; text: () => string } {
  const chunks: string[] = [];
  const destination = new Writable({
    write(chunk: Buffer, _enc, cb) {
      chunks.push(chunk.toString());
      cb();
    },
  });
  return { log: createLogger({ name: 'agent-test', level: 'debug', destination }), text: () => chunks.join('') };
}

async function workDir(): Promise<{ root: string; cacheDir: string; configFile: string }> {
  const root = await mkdtemp(path.join(tmpdir(), 'agent-once-'));
  workDirs.push(root);
  return { root, cacheDir: path.join(root, 'hub'), configFile: path.join(root, 'models.yaml') };
}

async function warm(params: { yaml: string; token?: string; gpuType?: string | null; cacheDir?: string }) {
  const dir = await workDir();
  await writeFile(dir.configFile, params.yaml);
  const captured = captureLog();
  const result = await runOnce({
    configFile: dir.configFile,
    cacheDir: params.cacheDir ?? dir.cacheDir,
    gpuType: params.gpuType ?? null,
    access: { hubUrl: hub.url, token: params.token },
    concurrency: 4,
    retry: FAST_RETRY,
    log: captured.log,
  });
  return { ...dir, ...result, logText: captured.text };
}

describe('modelctl agent --once against the local Hub', () => {
  it('warms repos that huggingface_hub then loads offline by commit and by branch, with no scan warning', async () => {
    const { cacheDir, states } = await warm({
      yaml: `minFreeSpaceGB: 0\nmodels:\n  ${hub.repos.tiny.id}: {}\n  ${hub.repos.manyFiles.id}: {}\n`,
    });
    expect(states.map((s) => [s.repo, s.state])).toEqual([
      [hub.repos.tiny.id, 'ready'],
      [hub.repos.manyFiles.id, 'ready'],
    ]);
    const report = await runHfOracle({
      cacheDir,
      checks: [
        { repo: hub.repos.tiny.id, revision: hub.repos.tiny.commit },
        { repo: hub.repos.tiny.id, revision: 'main' },
        { repo: hub.repos.manyFiles.id, revision: 'main' },
        { repo: hub.repos.manyFiles.id, revision: hub.repos.manyFiles.commit },
      ],
    });
    expect(report.snapshots.every((s) => s.ok)).toBe(true);
    expect(report.snapshots[0]!.files).toEqual(Object.keys(hub.repos.tiny.files).sort());
    const fixtures = { [hub.repos.tiny.id]: hub.repos.tiny, [hub.repos.manyFiles.id]: hub.repos.manyFiles };
    expect(report.downloads.length).toBe(
      2 * (Object.keys(hub.repos.tiny.files).length + Object.keys(hub.repos.manyFiles.files).length),
    );
    for (const d of report.downloads) {
      expect(d.ok).toBe(true);
      expect(d.sha256).toBe(fixtures[d.repo]!.files[d.path]!.sha256);
    }
    expect(report.scan.warnings).toEqual([]);
    const tinyScan = report.scan.repos.find((r) => r.repoId === hub.repos.tiny.id)!;
    expect(tinyScan.refs).toEqual({ main: hub.repos.tiny.commit });
    // refs/main is exactly the commit: no newline (Python and TGI read it without strip)
    const ref = await readFile(path.join(cacheDir, 'models--test-org--tiny-model', 'refs', 'main'), 'utf8');
    expect(ref).toBe(hub.repos.tiny.commit);
    // snapshot entries are relative symlinks into blobs/
    const nested = path.join(
      cacheDir,
      'models--test-org--tiny-model',
      'snapshots',
      hub.repos.tiny.commit,
      'sub',
      'dir',
      'file.txt',
    );
    expect((await lstat(nested)).isSymbolicLink()).toBe(true);
  });

  it('downloads the same file set as snapshot_download for the same allow/ignore patterns', async () => {
    const allow = ['a/*', '*.json'];
    const ignore = ['*-00?.txt'];
    const ours = await warm({
      yaml: `minFreeSpaceGB: 0\nmodels:\n  ${hub.repos.manyFiles.id}:\n    allow_patterns: ${JSON.stringify(allow)}\n    ignore_patterns: ${JSON.stringify(ignore)}\n`,
    });
    expect(ours.states[0]!.state).toBe('ready');
    const theirs = await workDir();
    const py = await hfSnapshotDownload({
      endpoint: hub.url,
      repo: hub.repos.manyFiles.id,
      cacheDir: theirs.cacheDir,
      allowPatterns: allow,
      ignorePatterns: ignore,
    });
    expect(py.ok).toBe(true);
    const report = await runHfOracle({ cacheDir: ours.cacheDir, checks: [{ repo: hub.repos.manyFiles.id }] });
    expect(report.snapshots[0]!.files).toEqual([...py.files!].sort());
    expect(report.snapshots[0]!.files!.length).toBeGreaterThan(3);
    expect(report.scan.warnings).toEqual([]);
    // a filtered snapshot must not carry a full trees/{commit}.json, or snapshot_download(local_files_only) would refuse it
    const trees = await readdir(path.join(ours.cacheDir, 'models--test-org--many-files', 'trees')).catch(() => []);
    expect(trees).toEqual([]);
  });

  it('completes a cache that huggingface_hub started, reusing its blobs, and the cache stays valid', async () => {
    const dir = await workDir();
    const py = await hfSnapshotDownload({
      endpoint: hub.url,
      repo: hub.repos.tiny.id,
      cacheDir: dir.cacheDir,
      allowPatterns: ['*.safetensors'],
    });
    expect(py.ok).toBe(true);
    const mark = await admin.mark();
    const { states } = await warm({
      yaml: `minFreeSpaceGB: 0\nmodels:\n  ${hub.repos.tiny.id}: {}\n`,
      cacheDir: dir.cacheDir,
    });
    expect(states[0]!.state).toBe('ready');
    const stats = await admin.stats(mark);
    const lfsBytes = Object.values(hub.repos.tiny.files)
      .filter((f) => f.lfs)
      .reduce((s, f) => s + f.size, 0);
    // the two safetensors blobs were already there: only the small files travel
    expect(stats.bytes).toBeLessThan(lfsBytes / 10);
    const report = await runHfOracle({
      cacheDir: dir.cacheDir,
      checks: [{ repo: hub.repos.tiny.id }, { repo: hub.repos.tiny.id, revision: hub.repos.tiny.commit }],
    });
    expect(report.downloads.every((d) => d.ok && d.sha256 === hub.repos.tiny.files[d.path]!.sha256)).toBe(true);
    expect(report.snapshots[0]!.files).toEqual(Object.keys(hub.repos.tiny.files).sort());
    expect(report.scan.warnings).toEqual([]);
  });

  it('re-verifies the cache on the periodic check: a corrupted blob, a lost blob and a lost link are repaired', async () => {
    const { cacheDir, states } = await warm({ yaml: `minFreeSpaceGB: 0\nmodels:\n  ${hub.repos.tiny.id}: {}\n` });
    expect(states[0]!.state).toBe('ready');
    const repoDir = path.join(cacheDir, 'models--test-org--tiny-model');
    const files = hub.repos.tiny.files;
    const shard = files['model-00001-of-00002.safetensors']!;
    // same size, different bytes: only a hash check can see it
    await writeFile(path.join(repoDir, 'blobs', shard.etag), Buffer.alloc(shard.size, 7));
    await unlink(path.join(repoDir, 'blobs', files['config.json']!.etag));
    await unlink(path.join(repoDir, 'snapshots', hub.repos.tiny.commit, 'sub', 'dir', 'file.txt'));
    const result = await downloadSnapshot({
      access: { hubUrl: hub.url },
      cacheDir,
      repo: hub.repos.tiny.id,
      revision: 'main',
      stateDir: path.join(path.dirname(cacheDir), '.modelctl-agent'),
      verifyHashes: true,
      retry: FAST_RETRY,
      log: captureLog().log,
    });
    expect(result.downloadedFiles).toBe(2);
    const report = await runHfOracle({ cacheDir, checks: [{ repo: hub.repos.tiny.id }] });
    expect(report.downloads.length).toBe(Object.keys(files).length);
    for (const d of report.downloads) expect(d.sha256).toBe(files[d.path]!.sha256);
    expect(report.scan.warnings).toEqual([]);
  });

  it("follows the Hub's redirect for a renamed repo and caches it under the name asked for, as huggingface_hub does", async () => {
    const oldName = 'test-org/old-name';
    const { cacheDir, states } = await warm({ yaml: `minFreeSpaceGB: 0\nmodels:\n  ${oldName}: {}\n` });
    expect(states[0]).toMatchObject({ state: 'ready', commit: hub.repos.renamed.commit });
    const theirs = await workDir();
    const py = await hfSnapshotDownload({ endpoint: hub.url, repo: oldName, cacheDir: theirs.cacheDir });
    expect(py.ok).toBe(true);
    const report = await runHfOracle({ cacheDir, checks: [{ repo: oldName }] });
    expect(report.snapshots[0]!.files).toEqual([...py.files!].sort());
    for (const d of report.downloads) expect(d.sha256).toBe(hub.repos.renamed.files[d.path]!.sha256);
    expect(report.scan.warnings).toEqual([]);
  });

  it('never publishes a corrupted body: the hash check rejects it and the retry brings the right bytes', async () => {
    const repo = 'agent-test/corrupt-once';
    await createRepo({
      root: hub.reposDir,
      repo,
      files: { 'config.json': '{}\n', 'w.safetensors': { size: 2 * MiB, seed: 'corrupt' } },
    });
    const id = await admin.addFault({
      match: { endpoint: 'cdn', repo },
      action: { kind: 'corrupt', atByte: 1_000_000 },
      times: 1,
    });
    try {
      const { cacheDir, states, logText } = await warm({ yaml: `minFreeSpaceGB: 0\nmodels:\n  ${repo}: {}\n` });
      expect(states[0]!.state).toBe('ready');
      expect((await admin.faults()).find((f) => f.id === id)?.applied).toBe(1);
      expect(logText()).toContain('DOWNLOAD_INTEGRITY');
      const { describeRepo } = await import('../testkit/hub-server/fixtures.js');
      const fixture = describeRepo(hub.reposDir, repo);
      const report = await runHfOracle({ cacheDir, checks: [{ repo }] });
      for (const d of report.downloads) expect(d.sha256).toBe(fixture.files[d.path]!.sha256);
    } finally {
      await admin.removeFault(id).catch(() => undefined);
    }
  });

  it('reports gated and missing repos as permanent failures without hammering the Hub, and warms the others', async () => {
    const mark = await admin.mark();
    const { states, logText } = await warm({
      yaml: `minFreeSpaceGB: 0\nmodels:\n  ${hub.repos.gated.id}: {}\n  nobody/no-such-model: {}\n  ${hub.repos.tiny.id}: {}\n`,
      token: hub.tokenWithoutAccess,
    });
    const byRepo = Object.fromEntries(states.map((s) => [s.repo, s]));
    expect(byRepo[hub.repos.tiny.id]!.state).toBe('ready');
    expect(byRepo[hub.repos.gated.id]).toMatchObject({ state: 'failed', permanent: true, errorCode: 'HUB_GATED_REPO' });
    expect(byRepo['nobody/no-such-model']).toMatchObject({ state: 'failed', permanent: true });
    expect(byRepo['nobody/no-such-model']!.errorCode).toMatch(/^HUB_(REPO_NOT_FOUND|UNAUTHORIZED)$/);
    const requests = await admin.requests({ since: mark });
    const to = (repo: string) => requests.filter((r) => r.repo === repo).length;
    // one request each would do; a retry loop would show dozens
    expect(to(hub.repos.gated.id)).toBeLessThanOrEqual(3);
    expect(to('nobody/no-such-model')).toBeLessThanOrEqual(2);
    expect(logText()).not.toContain(hub.tokenWithoutAccess);
  });

  it('never sends the token to the CDN and never logs it, while downloading a gated repo it may read', async () => {
    const mark = await admin.mark();
    const { states, logText } = await warm({
      yaml: `minFreeSpaceGB: 0\nmodels:\n  ${hub.repos.gated.id}: {}\n`,
      token: hub.token,
    });
    expect(states[0]!.state).toBe('ready');
    const stats = await admin.stats(mark);
    expect(stats.byEndpoint.cdn?.requests ?? 0).toBeGreaterThan(0);
    expect(stats.cdnRequestsWithAuthorization).toBe(0);
    expect(logText()).not.toContain(hub.token);
  });

  it('refuses a repo whose tree holds file names that climb out, and writes nothing outside the cache', async () => {
    const { root, cacheDir, states } = await warm({
      yaml: `minFreeSpaceGB: 0\nmodels:\n  ${hub.repos.hostile.id}: {}\n`,
    });
    expect(states[0]).toMatchObject({ state: 'failed', errorCode: 'UNSAFE_REPO_PATH', permanent: true });
    // every file the run wrote, anywhere under the work folder: only the config, the cache and the agent's state
    const written = await readdir(root, { recursive: true });
    expect(written.filter((f) => !/^(models\.yaml|hub|\.modelctl-agent)(\/|$)/.test(f))).toEqual([]);
    // and none of the hostile names, inside the cache or out of it (`../escape.txt` would land in snapshots/)
    expect(written.filter((f) => /escape\.txt|passwd-x|\\/.test(f))).toEqual([]);
    const snapshots = await readdir(path.join(cacheDir, 'models--test-org--hostile-names', 'snapshots')).catch(
      () => [],
    );
    expect(snapshots).toEqual([]);
  });

  it('refuses a repo file name with a control character, as warm and fetch do (one validator)', async () => {
    const repo = 'agent-test/control-char-name';
    await createRepo({
      root: hub.reposDir,
      repo,
      files: { 'config.json': '{}\n', 'evil\u001b[2Jname.json': '{}\n' },
    });
    const { cacheDir, states } = await warm({ yaml: `minFreeSpaceGB: 0\nmodels:\n  ${repo}: {}\n` });
    expect(states[0]).toMatchObject({ state: 'failed', errorCode: 'UNSAFE_REPO_PATH', permanent: true });
    expect(states[0]!.lastError ?? '').toMatch(/control character/);
    const snapshots = await readdir(path.join(cacheDir, 'models--agent-test--control-char-name', 'snapshots')).catch(
      () => [],
    );
    expect(snapshots).toEqual([]);
  });

  it('never shows a token a Hub echoes back in X-Error-Code or the error message, whatever its prefix', async () => {
    const repo = 'agent-test/echoing-hub';
    await createRepo({ root: hub.reposDir, repo, files: { 'config.json': '{}\n' } });
    const token = 'zz-enterprise-3c9f1e7a5b';
    const id = await admin.addFault({
      match: { repo },
      action: { kind: 'status', status: 400, errorCode: `Bad-${token}`, errorMessage: `token ${token} refused` },
    });
    try {
      const { states, logText } = await warm({ yaml: `minFreeSpaceGB: 0\nmodels:\n  ${repo}: {}\n`, token });
      expect(states[0]).toMatchObject({ state: 'failed', permanent: true });
      expect(states[0]!.lastError).toMatch(/Bad-\[REDACTED\]/);
      expect(JSON.stringify(states)).not.toContain(token);
      expect(logText()).not.toContain(token);
    } finally {
      await admin.removeFault(id).catch(() => undefined);
    }
  });

  it('exits within seconds on SIGTERM while a Hub request hangs (in-flight requests are aborted)', async () => {
    const repo = 'agent-test/hanging-tree';
    await createRepo({ root: hub.reposDir, repo, files: { 'config.json': '{}\n' } });
    const id = await admin.addFault({ match: { endpoint: 'tree', repo }, action: { kind: 'delay', ms: 120_000 } });
    const dir = await workDir();
    await writeFile(dir.configFile, `minFreeSpaceGB: 0\nmodels:\n  ${repo}: {}\n`);
    const mark = await admin.mark();
    const agent = runModelctl(['agent', '--once', '--config', dir.configFile, '--cache-dir', dir.cacheDir], {
      HF_ENDPOINT: hub.url,
      AGENT_STATE_DIR: path.join(dir.root, 'state'),
      LOG_LEVEL: 'warn',
    });
    try {
      const deadline = Date.now() + 30_000;
      // the Hub logs a request when it is answered: the revision is, then the tree request hangs
      while (!(await admin.requests({ since: mark })).some((r) => r.endpoint === 'revision' && r.repo === repo)) {
        if (Date.now() > deadline) throw new Error(`the agent never asked for the revision:\n${agent.output()}`);
        await new Promise((r) => setTimeout(r, 100));
      }
      await new Promise((r) => setTimeout(r, 1500));
      const signalled = Date.now();
      agent.child.kill('SIGTERM');
      await agent.exited;
      // a DaemonSet pod's grace period is 30 s by default; the request in flight must not hold the exit
      expect(Date.now() - signalled).toBeLessThan(5000);
    } finally {
      agent.child.kill('SIGKILL');
      await admin.removeFault(id).catch(() => undefined);
    }
  });

  it('completes despite 429 with Retry-After, 5xx, dropped connections and slow bodies, with correct hashes', async () => {
    const repo = 'agent-test/faulty-model';
    const files = {
      'config.json': '{"model_type":"faulty"}\n',
      'a.safetensors': { size: 4 * MiB, seed: 'faulty-a' },
      'b.safetensors': { size: 3 * MiB, seed: 'faulty-b' },
      'small.txt': 'small\n'.repeat(100),
    };
    await createRepo({ root: hub.reposDir, repo, files });
    const ids = [
      await admin.addFault({
        match: { endpoint: 'revision', repo },
        action: { kind: 'status', status: 429, retryAfter: 1 },
        times: 1,
      }),
      await admin.addFault({ match: { endpoint: 'tree', repo }, action: { kind: 'status', status: 503 }, times: 2 }),
      await admin.addFault({
        match: { endpoint: 'cdn', repo, path: 'a.safetensors' },
        action: { kind: 'drop', afterBytes: 1_000_000 },
        times: 3,
      }),
      await admin.addFault({
        match: { endpoint: 'cdn', repo, path: 'b.safetensors' },
        action: { kind: 'status', status: 500 },
        times: 2,
      }),
      await admin.addFault({
        match: { endpoint: 'resolve', repo, path: 'small.txt' },
        action: { kind: 'throttle', bytesPerSecond: 2000 },
      }),
    ];
    try {
      const mark = await admin.mark();
      const started = Date.now();
      const { cacheDir, states } = await warm({ yaml: `minFreeSpaceGB: 0\nmodels:\n  ${repo}: {}\n` });
      expect(states[0]!.state).toBe('ready');
      // the 429 asked for one second
      expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
      const faults = await admin.faults();
      expect(
        faults.filter((f) => ids.includes(f.id) && f.rule.times !== undefined).every((f) => f.applied === f.rule.times),
      ).toBe(true);
      const report = await runHfOracle({ cacheDir, checks: [{ repo }] });
      expect(report.downloads.map((d) => d.path).sort()).toEqual(Object.keys(files).sort());
      const { describeRepo } = await import('../testkit/hub-server/fixtures.js');
      const fixture = describeRepo(hub.reposDir, repo);
      for (const d of report.downloads) expect(d.sha256).toBe(fixture.files[d.path]!.sha256);
      // resumed, not restarted: the dropped file cost little more than its size
      const aBytes = (await admin.requests({ since: mark }))
        .filter((r) => r.path === 'a.safetensors')
        .reduce((s, r) => s + r.bytes, 0);
      expect(aBytes).toBeLessThan(4 * MiB * 1.1);
    } finally {
      for (const id of ids) await admin.removeFault(id).catch(() => undefined);
    }
  });
});
