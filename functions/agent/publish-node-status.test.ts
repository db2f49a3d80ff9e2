import { describe, expect, it } from '@jest/globals';
import type { NodeLabels, NodeMeta, NodeMetaPatch } from '../../shared/k8s/node-labels.js';
import { publishDownloadProgress } from './publish-node-status.js';

describe('publishDownloadProgress', () => {
  it('sets per-model bytes done / total and rate in the status annotation, leaving labels and the rest alone', async () => {
    const meta: NodeMeta = {
      name: 'n1',
      labels: { 'models.modelctl.dev/org--a': 'ready' },
      annotations: { 'modelctl.dev/agent-status': JSON.stringify({ source: 'plan', models: [{ repo: 'org/a' }] }) },
    };
    const patches: NodeMetaPatch[] = [];
    const nodes: NodeLabels = {
      read: async () => structuredClone(meta),
      patch: async (_name, patch) => {
        patches.push(patch);
        return meta;
      },
    };
    const downloading = [{ repo: 'org/b', revision: 'main', bytesDone: 512, totalBytes: 2048, bytesPerSecond: 256 }];
    await publishDownloadProgress({ nodes, nodeName: 'n1', downloading, now: new Date('2026-01-01T00:00:00Z') });
    expect(patches).toHaveLength(1);
    expect(patches[0]!.labels).toBeUndefined();
    expect(JSON.parse(patches[0]!.annotations!['modelctl.dev/agent-status']!)).toEqual({
      source: 'plan',
      models: [{ repo: 'org/a' }],
      progressAt: '2026-01-01T00:00:00.000Z',
      downloading,
    });
  });
});
