import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { CoreV1Api } from '@kubernetes/client-node';
import { parsePlan, PLAN_KEY } from '../shared/plan/plan.js';
import { createRepo } from '../testkit/hub-server/repo-store.js';
import { readHub, type HubInfo } from '../testkit/peers/hub.js';
import {
  adminKubeConfig,
  createTestNamespace,
  kubePeer,
  modelsConfigMapAddEvent,
  runKubectl,
} from '../testkit/kube-helpers.js';

/**
 * `modelctl warm` as a process (the CLI entry, env parsed at the edge), as its Knative Service runs it:
 * listens on PORT, takes an ApiServerSource event, publishes the plan, drains on SIGTERM and exits 0.
 */
const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '..');

let ns: string;
let hub: HubInfo;
let child: ChildProcess;
let output = '';
let port: number;

beforeAll(async () => {
  hub = readHub();
  ns = await createTestNamespace('warm-cli');
  await createRepo({
    root: hub.reposDir,
    repo: `${ns}/cli-model`,
    files: { 'config.json': '{"a":1}\n', 'model.safetensors': { size: 1024 * 1024, seed: ns } },
  });
  child = spawn(
    process.execPath,
    [
      '--import',
      path.join(repoRoot, 'testkit/hub-server/register-ts.ts'),
      path.join(repoRoot, 'cli/main.ts'),
      'warm',
      '--port',
      '0',
      '--host',
      '127.0.0.1',
    ],
    {
      cwd: repoRoot,
      env: {
        PATH: process.env.PATH ?? '',
        POD_NAMESPACE: ns,
        KUBECONFIG: kubePeer().kubeconfig,
        HF_ENDPOINT: hub.url,
        // the granted token: the gated repo resolves
        HF_TOKEN: hub.token,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    },
  );
  child.stdout?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  child.stderr?.on('data', (chunk: Buffer) => (output += chunk.toString()));
  const deadline = Date.now() + 60_000;
  while (Date.now() < deadline) {
    const m = /"port":(\d+),[^\n]*"msg":"warm listening"/.exec(output);
    if (m) {
      port = Number(m[1]);
      return;
    }
    if (child.exitCode !== null) break;
    await new Promise((r) => setTimeout(r, 100));
  }
  throw new Error(`modelctl warm did not start:\n${output}`);
});

afterAll(() => {
  if (child.exitCode === null) child.kill('SIGKILL');
});

describe('modelctl warm (process)', () => {
  it('publishes the plan for an ApiServerSource add event, gated repos included with a granted token', async () => {
    const yamlText = `models:\n  ${ns}/cli-model: {}\n  ${hub.repos.gated.id}: {}\n`;
    await runKubectl(['create', 'configmap', 'modelctl-models', '-n', ns, `--from-literal=models.yaml=${yamlText}`]);
    const got = await runKubectl(['get', 'configmap', 'modelctl-models', '-n', ns, '-o', 'json']);
    const cm = JSON.parse(got.stdout) as Record<string, unknown>;
    const res = await fetch(`http://127.0.0.1:${port}/`, { method: 'POST', ...modelsConfigMapAddEvent(ns, cm) });
    expect(res.status).toBe(200);
    expect(res.headers.get('ce-type')).toBe('dev.modelctl.warm.planned');
    const plan = parsePlan(
      (
        await adminKubeConfig()
          .makeApiClient(CoreV1Api)
          .readNamespacedConfigMap({ namespace: ns, name: 'modelctl-plan' })
      ).data![PLAN_KEY]!,
    );
    expect(plan.models.map((m) => [m.repo, m.status])).toEqual(
      [
        [`${ns}/cli-model`, 'ok'],
        [hub.repos.gated.id, 'ok'],
      ].sort(),
    );
    expect(plan.models.find((m) => m.repo === hub.repos.gated.id)?.commit).toBe(hub.repos.gated.commit);
  });

  it('answers its health probes and serves metrics', async () => {
    expect((await fetch(`http://127.0.0.1:${port}/health/liveness`)).status).toBe(200);
    expect((await fetch(`http://127.0.0.1:${port}/health/readiness`)).status).toBe(200);
    const metrics = await (await fetch(`http://127.0.0.1:${port}/metrics`)).text();
    expect(metrics).toMatch(
      /modelctl_warm_events_total\{[^}]*type="dev.knative.apiserver.resource.add"[^}]*outcome="created"[^}]*\} 1/,
    );
    expect(metrics).toMatch(/modelctl_warm_hub_requests_total\{[^}]*endpoint="revision"[^}]*\} 2/);
  });

  it('drains on SIGTERM and exits 0, its logs free of the token', async () => {
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(output).toContain('"msg":"drained"');
    expect(output).not.toContain(hub.token);
  });
});
