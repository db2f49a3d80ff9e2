import { describe, expect, it } from '@jest/globals';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { loadKubeConfig } from './load-kube-config.js';

function kubeconfig(dir: string, name: string, server: string): string {
  const file = path.join(dir, name);
  writeFileSync(
    file,
    [
      'apiVersion: v1',
      'kind: Config',
      `clusters: [{name: ${name}, cluster: {server: "${server}"}}]`,
      `users: [{name: ${name}, user: {token: t-${name}}}]`,
      `contexts: [{name: ${name}, context: {cluster: ${name}, user: ${name}, namespace: ns-${name}}}]`,
      `current-context: ${name}`,
    ].join('\n'),
  );
  return file;
}

describe('loadKubeConfig', () => {
  it('merges a KUBECONFIG list as client-node merges $KUBECONFIG', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
    const a = kubeconfig(dir, 'a', 'https://a.example:6443');
    const b = kubeconfig(dir, 'b', 'https://b.example:6443');
    const kc = loadKubeConfig({ kubeconfigPath: `${a}${path.delimiter}${b}` });
    expect(kc.clusters.map((c) => c.name)).toEqual(['a', 'b']);
    expect(kc.getContextObject('a')?.namespace).toBe('ns-a');
    expect(kc.getCurrentCluster()?.server).toBe('https://b.example:6443');
  });

  it('uses a plain-HTTP API server without asking for TLS verification', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
    const kc = loadKubeConfig({ kubeconfigPath: kubeconfig(dir, 'p', 'http://127.0.0.1:8001') });
    expect(kc.getCurrentCluster()).toMatchObject({ server: 'http://127.0.0.1:8001', skipTLSVerify: true });
  });

  it('refuses a list naming a file that does not exist', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'kubeconfig-'));
    const a = kubeconfig(dir, 'a', 'https://a.example:6443');
    expect(() => loadKubeConfig({ kubeconfigPath: `${a}${path.delimiter}${path.join(dir, 'missing')}` })).toThrow(
      /ENOENT/,
    );
  });
});
