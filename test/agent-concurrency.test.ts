import { afterAll, describe, expect, it } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { runOnce } from '../functions/agent/run-once.js';
import { createLogger } from '../shared/log/create-logger.js';
import { describeRepo } from '../testkit/hub-server/fixtures.js';
import { HubAdmin } from '../testkit/hub-server/hub-admin.js';
import { createRepo } from '../testkit/hub-server/repo-store.js';
import { readHub } from '../testkit/peers/hub.js';
import { hfSnapshotDownload, runHfOracle } from '../testkit/peers/hf-oracle.js';

const MiB = 1024 * 1024;
const workDirs: string[] = [];

afterAll(async () => {
  for (const dir of workDirs) await rm(dir, { recursive: true, force: true });
});

async function setup(repo: string) {
  const hub = readHub();
  const files: Record<string, string | { size: number; seed: string }> = { 'config.json': '{"model_type":"shared"}\n' };
  for (let i = 0; i < 4; i++) files[`w-${i}.safetensors`] = { size: 6 * MiB, seed: `${repo}-${i}` };
  await createRepo({ root: hub.reposDir, repo, files });
  const admin = new HubAdmin(hub.adminUrl);
  // slow enough that the two writers overlap on every file
  const fault = await admin.addFault({
    match: { endpoint: 'cdn', repo },
    action: { kind: 'throttle', bytesPerSecond: 8 * MiB },
  });
  const work = await mkdtemp(path.join(tmpdir(), 'agent-conc-'));
  workDirs.push(work);
  const configFile = path.join(work, 'models.yaml');
  await writeFile(configFile, `minFreeSpaceGB: 0\nmodels:\n  ${repo}: {}\n`);
  return {
    hub,
    admin,
    fault,
    cacheDir: path.join(work, 'hub'),
    work,
    configFile,
    fixture: describeRepo(hub.reposDir, repo),
  };
}

function once(params: { configFile: string; cacheDir: string; stateDir: string; hubUrl: string }) {
  return runOnce({
    ...params,
    gpuType: null,
    access: { hubUrl: params.hubUrl },
    concurrency: 4,
    retry: { maxRetries: 5, baseDelayMs: 50 },
    log: createLogger({ name: 'agent-conc', level: 'warn' }),
  });
}

describe('agent sharing a cache', () => {
  it('two agents on the same cache: both ready, each blob fetched about once, no corruption', async () => {
    const repo = 'agent-test/shared-two-agents';
    const s = await setup(repo);
    try {
      const mark = await s.admin.mark();
      const [a, b] = await Promise.all([
        once({
          configFile: s.configFile,
          cacheDir: s.cacheDir,
          stateDir: path.join(s.work, 'state-a'),
          hubUrl: s.hub.url,
        }),
        once({
          configFile: s.configFile,
          cacheDir: s.cacheDir,
          stateDir: path.join(s.work, 'state-b'),
          hubUrl: s.hub.url,
        }),
      ]);
      expect(a.states[0]!.state).toBe('ready');
      expect(b.states[0]!.state).toBe('ready');
      const report = await runHfOracle({ cacheDir: s.cacheDir, checks: [{ repo }] });
      expect(report.downloads.length).toBe(5);
      for (const d of report.downloads) expect(d.sha256).toBe(s.fixture.files[d.path]!.sha256);
      expect(report.scan.warnings).toEqual([]);
      const total = Object.values(s.fixture.files).reduce((sum, f) => sum + f.size, 0);
      const served = (await s.admin.requests({ since: mark }))
        .filter((r) => r.repo === repo)
        .reduce((sum, r) => sum + r.bytes, 0);
      // the etag flock makes the second agent wait and reuse the first one's blob
      expect(served).toBeLessThan(total * 1.2);
    } finally {
      await s.admin.removeFault(s.fault);
    }
  });

  it('the agent beside a huggingface_hub snapshot_download of the same repo: both succeed, the cache is valid', async () => {
    const repo = 'agent-test/shared-with-python';
    const s = await setup(repo);
    try {
      const [ours, py] = await Promise.all([
        once({
          configFile: s.configFile,
          cacheDir: s.cacheDir,
          stateDir: path.join(s.work, 'state'),
          hubUrl: s.hub.url,
        }),
        hfSnapshotDownload({ endpoint: s.hub.url, repo, cacheDir: s.cacheDir }),
      ]);
      expect(ours.states[0]!.state).toBe('ready');
      expect(py.ok).toBe(true);
      const report = await runHfOracle({
        cacheDir: s.cacheDir,
        checks: [{ repo }, { repo, revision: s.fixture.commit }],
      });
      expect(report.downloads.length).toBe(10);
      for (const d of report.downloads) expect(d.sha256).toBe(s.fixture.files[d.path]!.sha256);
      expect(report.scan.warnings).toEqual([]);
    } finally {
      await s.admin.removeFault(s.fault);
    }
  });
});
