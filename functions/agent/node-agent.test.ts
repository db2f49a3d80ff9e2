import { describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { Registry } from 'prom-client';
import { parseModelsConfig } from '../../shared/config/models-config.js';
import type { NodeLabels, NodeMeta, NodeMetaPatch } from '../../shared/k8s/node-labels.js';
import type { EventRecord } from '../../shared/k8s/record-event.js';
import { createLogger } from '../../shared/log/create-logger.js';
import { buildPlan, type PlanModel } from '../../shared/plan/plan.js';
import { createAgentMetrics } from './agent-metrics.js';
import { NodeAgent } from './node-agent.js';

const COMMIT = 'c'.repeat(40);
const CONTENT = 'hello weights\n';
const OID = createHash('sha1').update(`blob ${CONTENT.length}\0${CONTENT}`).digest('hex');

/** A Node held in memory, recording every patch. */
function fakeNode(): NodeLabels & { meta: NodeMeta; patches: NodeMetaPatch[] } {
  const meta: NodeMeta = { name: 'n1', labels: {}, annotations: {} };
  const patches: NodeMetaPatch[] = [];
  const apply = (target: Record<string, string>, changes: Record<string, string | null> | undefined) => {
    for (const [k, v] of Object.entries(changes ?? {})) {
      if (v === null) Reflect.deleteProperty(target, k);
      else target[k] = v;
    }
  };
  return {
    meta,
    patches,
    read: async () => structuredClone(meta),
    patch: async (_name, patch) => {
      patches.push(patch);
      apply(meta.labels, patch.labels);
      apply(meta.annotations, patch.annotations);
      return structuredClone(meta);
    },
  };
}

function model(repo: string, overrides: Partial<PlanModel> = {}): PlanModel {
  return {
    repo,
    revision: 'main',
    commit: COMMIT,
    files: [{ path: 'weights.txt', size: CONTENT.length, oid: OID }],
    totalBytes: CONTENT.length,
    allowPatterns: null,
    ignorePatterns: null,
    gpuCompatible: ['ALL'],
    status: 'ok',
    ...overrides,
  };
}

function plan(models: PlanModel[]) {
  const config = parseModelsConfig('minFreeSpaceGB: 0\ncheckIntervalSeconds: 3600\n');
  return buildPlan({ config, models, source: { namespace: 'ns', name: 'modelctl-models' } });
}

async function until(check: () => boolean, what: string): Promise<void> {
  for (let i = 0; i < 200 && !check(); i++) await new Promise((r) => setTimeout(r, 25));
  if (!check()) throw new Error(`timed out: ${what}`);
}

describe('NodeAgent', () => {
  it('labels ready models, unlabels and evicts dropped ones, and records one Event per new failure', async () => {
    const root = await mkdtemp(path.join(tmpdir(), 'node-agent-'));
    const cacheDir = path.join(root, 'hub');
    // the blob is already on disk (no Hub needed): the pass only verifies, links and labels
    await mkdir(path.join(cacheDir, 'models--org--kept', 'blobs'), { recursive: true });
    await mkdir(path.join(cacheDir, 'models--org--dropped', 'blobs'), { recursive: true });
    await writeFile(path.join(cacheDir, 'models--org--kept', 'blobs', OID), CONTENT);
    await writeFile(path.join(cacheDir, 'models--org--dropped', 'blobs', OID), CONTENT);
    const nodes = fakeNode();
    const events: EventRecord[] = [];
    const agent = new NodeAgent({
      nodeName: 'n1',
      gpuTypes: ['nvidia-l4'],
      access: { hubUrl: 'http://127.0.0.1:9' },
      cacheDirOverride: cacheDir,
      concurrency: 2,
      evictionGraceSeconds: 0,
      labelPrefix: 'models.modelctl.dev',
      nodes,
      recordEvent: async (e) => void events.push(e),
      eventNamespace: 'ns',
      metrics: createAgentMetrics(new Registry()),
      log: createLogger({ name: 'node-agent-test', level: 'silent' }),
    });
    const gated = model('org/gated', { status: 'gated', commit: null, files: [], totalBytes: 0, message: 'gated' });
    agent.setInput(
      'plan',
      plan([
        model('org/kept'),
        model('org/dropped'),
        model('org/other-gpu', { gpuCompatible: ['nvidia-h100'] }),
        gated,
      ]),
    );
    const controller = new AbortController();
    const running = agent.run(controller.signal);
    try {
      await until(() => nodes.meta.labels['models.modelctl.dev/org--dropped'] === 'ready', 'first pass');
      expect(nodes.meta.labels).toEqual({
        'models.modelctl.dev/org--kept': 'ready',
        'models.modelctl.dev/org--dropped': 'ready',
      });
      const status = JSON.parse(nodes.meta.annotations['modelctl.dev/agent-status']!) as {
        models: { repo: string; state: string }[];
      };
      expect(status.models.map((m) => [m.repo, m.state])).toEqual([
        ['org/dropped', 'ready'],
        ['org/kept', 'ready'],
        ['org/gated', 'failed'],
      ]);
      expect(events.map((e) => [e.reason, e.involved.kind, e.involved.name])).toEqual([
        ['ModelWarmFailed', 'Node', 'n1'],
      ]);

      agent.setInput('plan', plan([model('org/kept'), gated]));
      const droppedSnapshot = path.join(cacheDir, 'models--org--dropped', 'snapshots', COMMIT);
      await until(
        () => nodes.meta.labels['models.modelctl.dev/org--dropped'] === undefined && !existsSync(droppedSnapshot),
        'second pass',
      );
      // the blob was there before the agent (not in its ledger): left alone; its own links and ref are gone
      expect(existsSync(path.join(cacheDir, 'models--org--dropped', 'blobs', OID))).toBe(true);
      expect(existsSync(path.join(cacheDir, 'models--org--dropped', 'refs', 'main'))).toBe(false);
      expect(nodes.meta.labels).toEqual({ 'models.modelctl.dev/org--kept': 'ready' });
      // the same failure again is not a new Event
      expect(events).toHaveLength(1);
      expect(existsSync(path.join(cacheDir, 'models--org--kept', 'snapshots', COMMIT, 'weights.txt'))).toBe(true);
    } finally {
      controller.abort();
      await running;
    }
  }, 30_000);
});
