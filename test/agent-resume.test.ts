import { describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { lstat, mkdtemp, readdir, readlink, rm, stat, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildBenchRepo } from './hub-server/fixtures.js';
import { HubAdmin } from './hub-server/hub-admin.js';
import { readHub } from './peers/hub.js';
import { runHfOracle } from './peers/hf-oracle.js';

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
    child.once('error', reject);
    child.once('exit', (code, signal) => {
      clearTimeout(timer);
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
});
