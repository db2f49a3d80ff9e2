import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import type { ConfigMapRecord } from './config-map-record.js';
import { createNodeLabels } from './node-labels.js';
import { loadKubeRest, type KubeRest } from './kube-rest.js';
import { kubeRestError } from './kube-status-error.js';
import { readConfigMap, watchConfigMap } from './watch-config-map.js';

/** A fake API server: each request is handed to `handler`, which the tests swap. */
let handler: (req: IncomingMessage, res: ServerResponse) => void = (_req, res) => res.end('{}');
const seen: { method: string; url: string; auth: string | undefined; type: string | undefined; body: string }[] = [];
let server: Server;
let dir: string;
let rest: KubeRest;

const cm = (rv: string, data: Record<string, string> = { k: rv }) => ({
  metadata: { name: 'plan', namespace: 'ns', resourceVersion: rv },
  data,
});

beforeAll(async () => {
  server = createServer((req, res) => {
    let body = '';
    req.on('data', (d: Buffer) => (body += d.toString()));
    req.on('end', () => {
      seen.push({
        method: req.method!,
        url: req.url!,
        auth: req.headers.authorization,
        type: req.headers['content-type'],
        body,
      });
      handler(req, res);
    });
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  dir = await mkdtemp(path.join(tmpdir(), 'kube-rest-'));
  await writeFile(path.join(dir, 'token'), 'file-token\n');
  const kubeconfig = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [
      {
        name: 'c',
        cluster: {
          server: `http://127.0.0.1:${(server.address() as AddressInfo).port}/`,
          'insecure-skip-tls-verify': true,
        },
      },
    ],
    users: [{ name: 'u', user: { tokenFile: 'token' } }],
    contexts: [{ name: 'x', context: { cluster: 'c', user: 'u' } }],
    'current-context': 'x',
  };
  await writeFile(path.join(dir, 'kubeconfig'), JSON.stringify(kubeconfig));
  rest = await loadKubeRest({ kubeconfigPath: path.join(dir, 'kubeconfig'), env: {} });
});

afterAll(async () => {
  await rest.close();
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
  await rm(dir, { recursive: true, force: true });
});

describe('KubeRest', () => {
  it('reads the token file relative to the kubeconfig and sends merge patches as such', async () => {
    handler = (_req, res) => res.end(JSON.stringify({ metadata: { uid: 'u1', labels: { a: 'b' } } }));
    seen.length = 0;
    const nodes = createNodeLabels(rest);
    expect(await nodes.read('n1')).toEqual({ name: 'n1', uid: 'u1', labels: { a: 'b' }, annotations: {} });
    await nodes.patch('n1', { labels: { a: null } });
    expect(seen.map((s) => [s.method, s.url, s.auth, s.type])).toEqual([
      ['GET', '/api/v1/nodes/n1', 'Bearer file-token', undefined],
      ['PATCH', '/api/v1/nodes/n1', 'Bearer file-token', 'application/merge-patch+json'],
    ]);
    expect(JSON.parse(seen[1]!.body)).toEqual({ metadata: { labels: { a: null } } });
  });

  it('merges a KUBECONFIG list with client-node: the later file names the context, the earlier its cluster', async () => {
    const other = {
      apiVersion: 'v1',
      kind: 'Config',
      clusters: [{ name: 'elsewhere', cluster: { server: 'https://192.0.2.1:6443' } }],
      users: [{ name: 'u2', user: { token: 'merged-token' } }],
      contexts: [{ name: 'y', context: { cluster: 'c', user: 'u2' } }],
      'current-context': 'y',
    };
    await writeFile(path.join(dir, 'other'), JSON.stringify(other));
    const list = [path.join(dir, 'kubeconfig'), path.join(dir, 'other')].join(path.delimiter);
    const merged = await loadKubeRest({ kubeconfigPath: list, env: {} });
    try {
      handler = (_req, res) => res.end(JSON.stringify({ metadata: { uid: 'u1' } }));
      seen.length = 0;
      await createNodeLabels(merged).read('n1');
      expect(seen.map((s) => [s.method, s.url, s.auth])).toEqual([['GET', '/api/v1/nodes/n1', 'Bearer merged-token']]);
    } finally {
      await merged.close();
    }
  });

  it('gives the API server errors stable codes, and a missing ConfigMap as null', async () => {
    handler = (_req, res) => {
      res.statusCode = 404;
      res.end(JSON.stringify({ kind: 'Status', code: 404, message: 'configmaps "plan" not found' }));
    };
    expect(await readConfigMap(rest, 'ns', 'plan')).toBeNull();
    handler = (_req, res) => {
      res.statusCode = 403;
      res.end(JSON.stringify({ kind: 'Status', code: 403, message: 'forbidden: no' }));
    };
    const err = await createNodeLabels(rest)
      .read('n1')
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'FORBIDDEN', message: 'get Node n1: forbidden: no' });
    expect(kubeRestError(new Error('ECONNREFUSED'), 'x')).toMatchObject({ code: 'KUBE_UNAVAILABLE' });
  });

  it('watches one ConfigMap: list, changes, resume after the stream ends, relist on 410, delete', async () => {
    let watches = 0;
    const lists: string[] = [];
    handler = (req, res) => {
      const url = new URL(req.url!, 'http://x');
      expect(url.searchParams.get('fieldSelector')).toBe('metadata.name=plan');
      if (url.searchParams.get('watch') !== 'true') {
        lists.push(url.search);
        res.end(JSON.stringify({ metadata: { resourceVersion: lists.length === 1 ? '10' : '30' }, items: [cm('5')] }));
        return;
      }
      watches++;
      const line = (type: string, object: unknown) => res.write(`${JSON.stringify({ type, object })}\n`);
      if (watches === 1) {
        expect(url.searchParams.get('resourceVersion')).toBe('10');
        line('BOOKMARK', { metadata: { resourceVersion: '11' } });
        line('MODIFIED', cm('12'));
        res.end(); // the server's timeoutSeconds: resume from 12
      } else if (watches === 2) {
        expect(url.searchParams.get('resourceVersion')).toBe('12');
        line('ERROR', { kind: 'Status', code: 410, message: 'too old resource version' });
        res.end();
      } else if (watches === 3) {
        expect(url.searchParams.get('resourceVersion')).toBe('30');
        line('DELETED', cm('31'));
        res.end();
      } else {
        // stays open until stop()
        res.write('');
      }
    };
    const changes: (ConfigMapRecord | null)[] = [];
    const errors: unknown[] = [];
    const watch = watchConfigMap({
      rest,
      namespace: 'ns',
      name: 'plan',
      onChange: (c) => changes.push(c),
      onError: (e) => errors.push(e),
      retryDelayMs: 10,
    });
    const deadline = Date.now() + 10_000;
    while (watches < 4 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 20));
    await watch.stop();
    expect(errors).toEqual([]);
    // the relist found rv 5 again after 12 was seen: a change back, so it is applied
    expect(changes.map((c) => c?.resourceVersion ?? null)).toEqual(['5', '12', '5', null]);
    expect(changes[0]).toMatchObject({ namespace: 'ns', name: 'plan', data: { k: '5' } });
    expect(lists).toHaveLength(2);
  });
});
