import { afterAll, describe, expect, it } from '@jest/globals';
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { EXAMPLE_MODELS, MODELCTL } from '../testkit/modelctl-process.js';
import { freePort } from '../testkit/peers/peer-run.js';

/**
 * onnxruntime-node 1.30 turns its telemetry on by default: it writes a device id under ~/.cache (and its working
 * folder) and uploads to a Microsoft host. `modelctl serve` turns it off (issue 14) wherever it runs; the image's
 * own check (no DNS lookup, `docker diff` empty) is in image.test.ts.
 */

const root = mkdtempSync(path.join(tmpdir(), 'modelctl-serve-telemetry-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/**
 * The variables by which onnxruntime 1.30 recognises a CI machine (strings of its native library), where it keeps its
 * telemetry off: left out of the child's environment, the control run behaves as on a user's machine wherever the
 * suite runs.
 */
const ORT_CI_VARIABLES = [
  'CI',
  'TF_BUILD',
  'GITHUB_ACTIONS',
  'GITLAB_CI',
  'CIRCLECI',
  'TRAVIS',
  'JENKINS_URL',
  'CODEBUILD_BUILD_ID',
  'BUILDKITE',
  'TEAMCITY_VERSION',
  'APPVEYOR',
  'BITBUCKET_BUILD_NUMBER',
];

/** Starts serve on the example with HOME and the working folder in a fresh folder; resolves when it is ready. */
async function serveIn(name: string, env: Record<string, string>): Promise<{ home: string; stop: () => void }> {
  const home = path.join(root, name);
  mkdirSync(home);
  const port = await freePort();
  const childEnv: NodeJS.ProcessEnv = {
    ...Object.fromEntries(Object.entries(process.env).filter(([name]) => !ORT_CI_VARIABLES.includes(name))),
    HOME: home,
    MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris'),
    HOST: '127.0.0.1',
    PORT: String(port),
    SERVE_MAX_CONCURRENCY: '1',
    LOG_LEVEL: 'warn',
    ...env,
  };
  delete childEnv.XDG_CACHE_HOME; // ~/.cache is onnxruntime's default
  const child = spawn(MODELCTL, ['serve'], { cwd: home, env: childEnv, stdio: 'ignore' });
  const stop = (): void => void child.kill('SIGKILL');
  const deadline = Date.now() + 30_000;
  for (;;) {
    const ready = await fetch(`http://127.0.0.1:${port}/health/readiness`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return { home, stop };
    if (child.exitCode !== null || Date.now() > deadline) {
      stop();
      throw new Error(`modelctl serve did not get ready (exit ${String(child.exitCode)})`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
}

describe('modelctl serve and onnxruntime telemetry', () => {
  it('writes nothing under HOME or its working folder when ORT_DISABLE_TELEMETRY is unset', async () => {
    // the control: telemetry on (ORT_DISABLE_TELEMETRY=0) leaves its device id, so the check below can fail
    const on = await serveIn('on', { ORT_DISABLE_TELEMETRY: '0' });
    try {
      const deviceId = path.join(on.home, '.cache/Microsoft/DeveloperTools/.onnxruntime/deviceid');
      const deadline = Date.now() + 20_000;
      while (!existsSync(deviceId) && Date.now() < deadline) await new Promise((r) => setTimeout(r, 200));
      expect(existsSync(deviceId)).toBe(true);
    } finally {
      on.stop();
    }

    const off = await serveIn('off', { ORT_DISABLE_TELEMETRY: '' });
    try {
      await new Promise((r) => setTimeout(r, 2_000));
      expect(readdirSync(off.home, { recursive: true })).toEqual([]);
    } finally {
      off.stop();
    }
  }, 90_000);
});
