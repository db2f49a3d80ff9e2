import { describe, expect, it, beforeAll, afterAll } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdir, mkdtemp, readdir, rm, statfs, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { runOnce } from '../functions/agent/run-once.js';
import { createLogger } from '../shared/log/create-logger.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { createRepo } from '../testkit/hub-server/repo-store.js';
import { readHub } from '../testkit/peers/hub.js';

const MiB = 1024 * 1024;
const FS_BYTES = 48 * MiB;
/** minFreeSpaceGB: 0.016 → 16,000,000 bytes must stay free */
const MIN_FREE = 16_000_000;
const run = promisify(execFile);

let mountDir: string;
let mounted = false;

/**
 * A small filesystem of fixed size: a real tmpfs. Mounting needs root (the testing ground runs as root); where
 * it cannot mount, the suite fails with mount's error rather than judging the guard on a pretend disk.
 */
beforeAll(async () => {
  mountDir = await mkdtemp(path.join(tmpdir(), 'agent-disk-'));
  try {
    await run('mount', ['-t', 'tmpfs', '-o', `size=${FS_BYTES}`, 'tmpfs', mountDir]);
  } catch (err) {
    throw new Error(`agent-disk needs a real tmpfs (run the integration tests as root): mount failed: ${String(err)}`, {
      cause: err,
    });
  }
  mounted = true;
});

afterAll(async () => {
  if (mounted) await run('umount', [mountDir]).catch(() => undefined);
  await rm(mountDir, { recursive: true, force: true });
  await rm(`${mountDir}-models.yaml`, { force: true });
});

async function freeNow(): Promise<number> {
  const s = await statfs(mountDir);
  return s.bavail * s.bsize;
}

describe('agent disk guard on a small filesystem', () => {
  it('skips a model that does not fit, warms the others, and never lets free space drop below minFreeSpaceGB', async () => {
    const hub = readHub();
    const admin = new HubAdmin(hub.adminUrl);
    const repos = {
      small: 'agent-test/disk-small',
      big: 'agent-test/disk-big',
      mid: 'agent-test/disk-mid',
      late: 'agent-test/disk-late',
    };
    await createRepo({
      root: hub.reposDir,
      repo: repos.small,
      files: { 'config.json': '{}\n', 'w.safetensors': { size: 10 * MiB, seed: 'small' } },
    });
    await createRepo({
      root: hub.reposDir,
      repo: repos.big,
      files: { 'config.json': '{}\n', 'w.safetensors': { size: 40 * MiB, seed: 'big' } },
    });
    await createRepo({
      root: hub.reposDir,
      repo: repos.mid,
      files: { 'config.json': '{}\n', 'w.safetensors': { size: 8 * MiB, seed: 'mid' } },
    });
    await createRepo({
      root: hub.reposDir,
      repo: repos.late,
      files: { 'config.json': '{}\n', 'w.safetensors': { size: 12 * MiB, seed: 'late' } },
    });
    // the last model downloads slowly, and something else fills the disk meanwhile
    const throttle = await admin.addFault({
      match: { endpoint: 'cdn', repo: repos.late },
      action: { kind: 'throttle', bytesPerSecond: 3 * MiB },
    });
    const cacheDir = path.join(mountDir, 'hub');
    await mkdir(cacheDir, { recursive: true });
    const configFile = path.join(mountDir, '..', `${path.basename(mountDir)}-models.yaml`);
    await writeFile(
      configFile,
      `minFreeSpaceGB: 0.016\nmodels:\n${Object.values(repos)
        .map((r) => `  ${r}: {}\n`)
        .join('')}`,
    );
    let minFree = Number.POSITIVE_INFINITY;
    let sampling = true;
    const sampler = (async () => {
      while (sampling) {
        minFree = Math.min(minFree, await freeNow());
        await new Promise((r) => setTimeout(r, 10));
      }
    })();
    const filler = (async () => {
      // once the slow download is under way, another writer takes 10 MiB: the 12 MiB model no longer fits
      for (let i = 0; i < 2400; i++) {
        const parts = await readdir(path.join(cacheDir, 'models--agent-test--disk-late', 'blobs')).catch(
          () => [] as string[],
        );
        if (parts.some((p) => p.endsWith('.part'))) break;
        await new Promise((r) => setTimeout(r, 25));
      }
      await new Promise((r) => setTimeout(r, 500));
      await writeFile(path.join(mountDir, 'filler.bin'), Buffer.alloc(10 * MiB, 1));
    })();
    try {
      const { states } = await runOnce({
        configFile,
        cacheDir,
        stateDir: path.join(mountDir, 'state'),
        gpuType: null,
        access: { hubUrl: hub.url },
        concurrency: 2,
        retry: { maxRetries: 3, baseDelayMs: 50 },
        log: createLogger({ name: 'agent-disk', level: 'warn' }),
      });
      await filler;
      const byRepo = Object.fromEntries(states.map((s) => [s.repo, s]));
      expect(byRepo[repos.small]!.state).toBe('ready');
      expect(byRepo[repos.big]).toMatchObject({ state: 'skipped', errorCode: 'NO_SPACE' });
      expect(byRepo[repos.mid]!.state).toBe('ready');
      expect(byRepo[repos.late]).toMatchObject({ state: 'skipped', errorCode: 'NO_SPACE' });
      // the aborted download gave its space back
      const lateBlobs = await readdir(path.join(cacheDir, 'models--agent-test--disk-late', 'blobs')).catch(
        () => [] as string[],
      );
      expect(lateBlobs.filter((n) => n.endsWith('.part'))).toEqual([]);
    } finally {
      sampling = false;
      await sampler;
      await admin.removeFault(throttle);
    }
    process.stdout.write(`agent-disk: lowest free space seen ${minFree} bytes (threshold ${MIN_FREE})\n`);
    expect(minFree).toBeGreaterThanOrEqual(MIN_FREE);
  });
});
