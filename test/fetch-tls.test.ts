import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { request } from 'node:http';
import { createServer, type Server } from 'node:https';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { readMlflowPeer } from '../testkit/peers/mlflow.js';
import { runFetch, sameFiles } from './fetch-helpers.js';

const mlflow = readMlflowPeer();
const v1 = mlflow.models.iris.versions.find((v) => v.version === '1')!;

let work: string;
let proxy: Server;
let httpsUrl: string;

/**
 * The plain MLflow peer behind a TLS front with a self-signed certificate (made by openssl), as a tracking
 * server behind an ingress with a private CA looks to a pod.
 */
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-fetch-tls-'));
  const [key, cert] = [path.join(work, 'key.pem'), path.join(work, 'cert.pem')];
  await promisify(execFile)('openssl', [
    ...['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-days', '1', '-subj', '/CN=127.0.0.1'],
    ...['-addext', 'subjectAltName=IP:127.0.0.1', '-keyout', key, '-out', cert],
  ]);
  const upstream = new URL(mlflow.url);
  proxy = createServer({ key: await readFile(key), cert: await readFile(cert) }, (req, res) => {
    const up = request(
      {
        host: upstream.hostname,
        port: upstream.port,
        path: req.url,
        method: req.method,
        headers: { ...req.headers, host: upstream.host },
      },
      (answer) => {
        res.writeHead(answer.statusCode ?? 502, answer.headers);
        answer.pipe(res);
      },
    );
    up.on('error', () => res.destroy());
    req.pipe(up);
  });
  await new Promise<void>((r) => proxy.listen(0, '127.0.0.1', () => r()));
  httpsUrl = `https://127.0.0.1:${(proxy.address() as AddressInfo).port}`;
});

afterAll(async () => {
  await new Promise((r) => proxy.close(r));
  await rm(work, { recursive: true, force: true });
});

describe('modelctl fetch over TLS', () => {
  it('refuses an untrusted certificate at once with exit 2 and says what to set', async () => {
    const run = await runFetch({
      MODEL_URI: `models:/${mlflow.models.iris.name}/1`,
      OUTPUT_PATH: path.join(work, 'strict'),
      MLFLOW_TRACKING_URI: httpsUrl,
    });
    expect(run.code).toBe(2);
    expect(run.output).toMatch(
      /TLS certificate of MLflow at https:\/\/127\.0\.0\.1:\d+ is not trusted \(\w+\).*MLFLOW_TRACKING_INSECURE_TLS=true/,
    );
    expect(run.output).not.toContain('retrying');
  });

  it('downloads through it with MLFLOW_TRACKING_INSECURE_TLS=true', async () => {
    const out = path.join(work, 'insecure');
    const run = await runFetch({
      MODEL_URI: `models:/${mlflow.models.iris.name}/1`,
      OUTPUT_PATH: out,
      MLFLOW_TRACKING_URI: httpsUrl,
      MLFLOW_TRACKING_INSECURE_TLS: 'true',
    });
    expect(run.code).toBe(0);
    expect(await sameFiles(path.join(out, 'model'), v1.localPath)).toBe(true);
  });
});
