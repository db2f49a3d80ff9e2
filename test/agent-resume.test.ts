import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readFile, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBenchRepo } from '../testkit/hub-server/fixtures.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { readHub } from '../testkit/peers/hub.js';
import { runHfOracle } from '../testkit/peers/hf-oracle.js';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const MiB = 1024 * 1024;
/** 2 × 1 GiB by default: a multi-GB download; AGENT_RESUME_FILE_MB shrinks it on a slow machine. */
const FILE_MB = Number(process.env.AGENT_RESUME_FILE_MB ?? 1024);
const KILLS = Number(process.env.AGENT_RESUME_KILLS ?? 20);

/** Runs `modelctl agent --once` (the built CLI) and SIGKILLs it after `killAfterMs`, or lets it finish. */
function runAgent(params: {
  env: NodeJS.ProcessEnv;
  args: string[];
  killAfterMs?: number;
  /** SIGKILLs it as soon as this resolves true (polled every 10 ms) */
  killWhen?: () => Promise<boolean>;
}): Promise<{ code: number | null; signal: string | null; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(path.join(root, 'bin', 'modelctl'), ['agent', ...params.args], {
      env: params.env,
      stdio: ['ignore', 'ignore', 'pipe'],
    });
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer =
      params.killAfterMs === undefined ? undefined : setTimeout(() => child.kill('SIGKILL'), params.killAfterMs);
    const killWhen = params.killWhen;
    const poll =
      killWhen === undefined
        ? undefined
        : setInterval(() => void killWhen().then((yes) => yes && child.kill('SIGKILL')), 10);
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
      clearInterval(poll);
      resolve({ code, signal, stderr });
    });
  });
}

/** Every entry under snapshots/ must be a link to a complete blob: no partial file is ever visible there. */
async function assertNoPartialVisible(repoDir: string, sizes: Record<string, number>): Promise<number> {
  const snapshots = path.join(repoDir, 'snapshots');
  let visible = 0;
  for (const commit of await readdir(snapshots).catch(() => [] as string[])) {
    for (const name of await readdir(path.join(snapshots, commit))) {
      const link = path.join(snapshots, commit, name);
      expect((await lstat(link)).isSymbolicLink()).toBe(true);
      const target = path.resolve(path.dirname(link), await readlink(link));
      expect((await stat(target)).size).toBe(sizes[name]);
      visible++;
    }
  }
  return visible;
}

/** Blobs published in `blobs/` that the agent's ownership ledger does not list (those cleanup would never evict). */
async function unlistedBlobs(repoDir: string, ledgerFile: string): Promise<string[]> {
  const ledger = (await readFile(ledgerFile, 'utf8')
    .then((t) => JSON.parse(t) as { blobs: string[] })
    .catch(() => ({ blobs: [] }))) as { blobs: string[] };
  const published = (await readdir(path.join(repoDir, 'blobs')).catch(() => [] as string[])).filter(
    (n) => !n.startsWith('.'),
  );
  return published.filter((etag) => !ledger.blobs.includes(etag));
}

describe('agent resume across SIGKILL', () => {
  it(`survives ${KILLS} SIGKILLs during a ${(2 * FILE_MB) / 1024} GiB download: no partial file visible, hashes right, little re-downloaded`, async () => {
    const hub = readHub();
    const admin = new HubAdmin(hub.adminUrl);
    const fixture = await buildBenchRepo({
      root: hub.reposDir,
      repo: 'agent-test/resume-big',
      fileCount: 2,
      fileSize: FILE_MB * MiB,
    });
    const total = Object.values(fixture.files).reduce((s, f) => s + f.size, 0);
    const sizes = Object.fromEntries(Object.entries(fixture.files).map(([p, f]) => [p, f.size]));
    const work = await mkdtemp(path.join(tmpdir(), 'agent-resume-'));
    const cacheDir = path.join(work, 'hub');
    const configFile = path.join(work, 'models.yaml');
    await writeFile(configFile, `minFreeSpaceGB: 0\nmodels:\n  ${fixture.id}: {}\n`);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, HF_ENDPOINT: hub.url, LOG_LEVEL: 'warn' };
    const args = ['--once', '--config', configFile, '--cache-dir', cacheDir, '--concurrency', '2'];
    const repoDir = path.join(cacheDir, 'models--agent-test--resume-big');
    const mark = await admin.mark();

    // paced (20 MiB/s per file) so that 20 kills land all along the 2 GiB, whatever the machine's speed
    const pace = await admin.addFault({
      match: { endpoint: 'cdn', repo: fixture.id },
      action: { kind: 'throttle', bytesPerSecond: 20 * MiB },
    });
    let kills = 0;
    let finishedEarly = false;
    for (let i = 0; i < KILLS; i++) {
      // random points: from the first requests to deep inside the bodies
      const run = await runAgent({ env, args, killAfterMs: 500 + Math.floor(Math.random() * 3000) });
      if (run.signal === 'SIGKILL') kills++;
      else {
        expect(run.stderr).toBe('');
        finishedEarly = true;
        break;
      }
      await assertNoPartialVisible(repoDir, sizes);
    }
    await admin.removeFault(pace);
    const final = await runAgent({ env, args });
    expect(final.code).toBe(0);
    expect(await assertNoPartialVisible(repoDir, sizes)).toBe(Object.keys(sizes).length);

    const report = await runHfOracle({ cacheDir, checks: [{ repo: fixture.id }] });
    expect(report.downloads.every((d) => d.ok && d.sha256 === fixture.files[d.path]!.sha256)).toBe(true);
    expect(report.scan.warnings).toEqual([]);
    const served = (await admin.requests({ since: mark }))
      .filter((r) => r.repo === fixture.id)
      .reduce((s, r) => s + r.bytes, 0);
    const redownloaded = (served - total) / total;
    process.stdout.write(
      `agent-resume: ${kills} SIGKILLs${finishedEarly ? ' (then finished)' : ''}, served ${served} bytes for ${total}: ${(redownloaded * 100).toFixed(2)}% re-downloaded\n`,
    );
    expect(kills).toBeGreaterThanOrEqual(Math.min(KILLS, 5));
    expect(redownloaded).toBeLessThan(0.1);
    // no temp file left behind in blobs/
    expect((await readdir(path.join(repoDir, 'blobs'))).filter((n) => n.startsWith('.'))).toEqual([]);
    await rm(work, { recursive: true, force: true });
  }, 900_000);

  it('lists every blob it published in its ledger, however many small files a SIGKILL interrupts (group-committed ledger writes)', async () => {
    const hub = readHub();
    const admin = new HubAdmin(hub.adminUrl);
    const fixture = await buildBenchRepo({
      root: hub.reposDir,
      repo: 'agent-test/resume-small',
      fileCount: 0,
      fileSize: 0,
      smallFiles: 200,
    });
    const work = await mkdtemp(path.join(tmpdir(), 'agent-resume-small-'));
    const cacheDir = path.join(work, 'hub');
    const stateDir = path.join(work, 'state');
    const configFile = path.join(work, 'models.yaml');
    await writeFile(configFile, `minFreeSpaceGB: 0\nmodels:\n  ${fixture.id}: {}\n`);
    const env = { PATH: process.env.PATH, HOME: process.env.HOME, HF_ENDPOINT: hub.url, LOG_LEVEL: 'warn' };
    const args = [
      '--once',
      '--config',
      configFile,
      '--cache-dir',
      cacheDir,
      '--state-dir',
      stateDir,
      '--concurrency',
      '8',
    ];
    const repoDir = path.join(cacheDir, 'models--agent-test--resume-small');
    const ledgerFile = path.join(stateDir, 'owned', 'models--agent-test--resume-small.json');
    // each request a little late, so that kills land among the 200 publications
    const pace = await admin.addFault({ match: { repo: fixture.id }, action: { kind: 'delay', ms: 40 } });
    const blobCount = async () =>
      (await readdir(path.join(repoDir, 'blobs')).catch(() => [] as string[])).filter((n) => !n.startsWith('.')).length;
    const published: number[] = [];
    // killed once this many blobs are out (plus a random few), from the first ones to the last ones
    for (const target of [2, 20, 50, 90, 130, 170, 195]) {
      const at = target + Math.floor(Math.random() * 5);
      const run = await runAgent({ env, args, killWhen: async () => (await blobCount()) >= at });
      if (run.signal !== 'SIGKILL') break;
      expect(await unlistedBlobs(repoDir, ledgerFile)).toEqual([]);
      published.push(await blobCount());
    }
    await admin.removeFault(pace);
    const final = await runAgent({ env, args });
    expect(final.code).toBe(0);
    expect(await unlistedBlobs(repoDir, ledgerFile)).toEqual([]);
    const report = await runHfOracle({ cacheDir, checks: [{ repo: fixture.id }] });
    expect(report.downloads.length).toBe(Object.keys(fixture.files).length);
    expect(report.downloads.every((d) => d.ok && d.sha256 === fixture.files[d.path]!.sha256)).toBe(true);
    expect(report.scan.warnings).toEqual([]);
    process.stdout.write(`agent-resume (small files): blobs published at each kill: ${published.join(', ')}\n`);
    // the kills landed all along the download
    expect(published.filter((n) => n > 0 && n < Object.keys(fixture.files).length).length).toBeGreaterThanOrEqual(5);
    await rm(work, { recursive: true, force: true });
  }, 600_000);
});
