import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { once } from 'node:events';
import { createServer, request, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { Registry } from 'prom-client';
import { isAppError } from '../../shared/errors/app-error.js';
import { createLogger } from '../../shared/log/create-logger.js';
import { createServeApp } from './create-serve-app.js';
import type { ServedModel } from './load-served-model.js';

/** A model that answers only when its signal aborts, and tells each abort's code once it does. */
function waitingModel(): ServedModel & { aborted: (code: string) => void; next: () => Promise<string> } {
  const codes: string[] = [];
  const waiters: ((code: string) => void)[] = [];
  const aborted = (code: string): void => {
    const waiter = waiters.shift();
    if (waiter) waiter(code);
    else codes.push(code);
  };
  return {
    name: 'm',
    runtime: 'onnx',
    mlmodel: { dir: '/nowhere', signature: null },
    io: { inputs: [], outputs: [] } as unknown as ServedModel['io'],
    score: (_task, options) =>
      new Promise((_resolve, reject) => {
        options?.signal?.addEventListener('abort', () => {
          const reason = options.signal!.reason as Error;
          aborted(isAppError(reason) ? reason.code : reason.message);
          reject(reason);
        });
      }),
    queued: () => 0,
    maxBatchSize: 1,
    observeBatches: () => undefined,
    close: async () => undefined,
    aborted,
    next: () => {
      const code = codes.shift();
      return code === undefined ? new Promise((resolve) => waiters.push(resolve)) : Promise.resolve(code);
    },
  };
}

/** Sends a predict request, then closes the connection once the server has the whole body. */
async function sendThenLeave(port: number, path: string, chunked: boolean, model: ReturnType<typeof waitingModel>) {
  const body = Buffer.from('{"inputs": [[1]]}');
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (!chunked) headers['content-length'] = String(body.length);
  const req = request({ host: '127.0.0.1', port, method: 'POST', path, headers });
  req.on('error', () => undefined);
  req.end(body);
  await once(req, 'finish');
  // the request is at the model once the server read it: give it a moment, then go away
  await new Promise((r) => setTimeout(r, 50));
  req.destroy();
  return model.next();
}

describe('abortWhenClientCloses (through createServeApp)', () => {
  const model = waitingModel();
  const registry = new Registry();
  let server: Server;
  let port: number;
  const quiet = createLogger({ name: 't', destination: new Writable({ write: (_c, _e, done) => done() }) });

  beforeAll(async () => {
    const app = createServeApp({ log: quiet, registry, maxBodyBytes: 1024, requestTimeoutMs: 30_000, version: '1' });
    app.setModel(model, 0.1);
    server = createServer(app.handler);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    port = (server.address() as AddressInfo).port;
  });
  afterAll(async () => {
    server.closeAllConnections();
    await new Promise((r) => server.close(r));
  });

  it.each([
    ['/invocations', false],
    ['/invocations', true],
    ['/v2/models/m/infer', false],
    ['/v2/models/m/infer', true],
    ['/v1/models/m:predict', false],
    ['/v1/models/m:predict', true],
  ])('aborts the scoring of %s (chunked: %s) when its client goes away before the answer', async (path, chunked) => {
    await expect(sendThenLeave(port, path, chunked, model)).resolves.toBe('CLIENT_CLOSED_REQUEST');
  });

  it('counts those requests with status 499 (client closed request), as nginx does', async () => {
    // the last response's close may come just after the model's abort
    await new Promise((r) => setTimeout(r, 50));
    const text = await registry.metrics();
    const closed = text
      .split('\n')
      .filter((l) => l.startsWith('modelctl_serve_http_requests_total{') && l.includes('status="499"'))
      .map((l) => Number(l.split(' ').pop()));
    expect(closed.reduce((a, b) => a + b, 0)).toBe(6);
  });
});
