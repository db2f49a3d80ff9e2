import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request, type RequestListener, type Server } from 'node:http';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { Writable } from 'node:stream';
import { gzipSync } from 'node:zlib';
import { Registry } from 'prom-client';
import { AppError } from '../../shared/errors/app-error.js';
import { createLogger } from '../../shared/log/create-logger.js';
import { createServeApp, type ServeAppHandle } from './create-serve-app.js';
import { createServeFront } from './create-serve-front.js';
import type { ServedModel } from './load-served-model.js';
import type { ScoringTask } from './scoring.js';

const quiet = createLogger({ name: 't', destination: new Writable({ write: (_c, _e, done) => done() }) });
const MAX_BODY = 1024;

/**
 * A model double for the HTTP layer: the body (JSON) says what to do. `{fail: {status, code}}` throws that
 * AppError, `{crash: true}` a plain Error, `{delayMs}` waits (leaving when the deadline aborts it), `{binary: n}`
 * answers the OIP binary form with an n-byte header; otherwise it echoes the task it was given.
 */
function modelDouble(name: string): ServedModel & { calls: () => number } {
  let calls = 0;
  const score = async (task: ScoringTask, options?: { signal?: AbortSignal | undefined }) => {
    calls += 1;
    const text = Buffer.from(task.body).toString('utf8');
    const order = (text.startsWith('{') ? JSON.parse(text) : {}) as {
      fail?: { status: number; code: 'BAD_REQUEST' | 'SERVER_BUSY' };
      crash?: boolean;
      delayMs?: number;
      binary?: number;
    };
    if (order.fail) throw new AppError({ code: order.fail.code, statusCode: order.fail.status, message: 'refused' });
    if (order.crash) throw new Error('internal detail');
    if (order.delayMs) {
      await new Promise<void>((resolve, reject) => {
        const timer = setTimeout(resolve, order.delayMs);
        options?.signal?.addEventListener('abort', () => {
          clearTimeout(timer);
          reject(options.signal!.reason as Error);
        });
      });
    }
    const echo = Buffer.from(JSON.stringify({ ...task, body: text }));
    if (order.binary)
      return { body: new Uint8Array(Buffer.concat([echo, Buffer.alloc(8, 7)])), headerLength: echo.length };
    return { body: new Uint8Array(echo) };
  };
  return {
    name,
    runtime: 'onnx',
    mlmodel: { dir: '/nowhere', signature: null },
    io: { inputs: [], outputs: [] } as unknown as ServedModel['io'],
    score,
    queued: () => 0,
    maxBatchSize: 1,
    observeBatches: () => undefined,
    close: async () => undefined,
    calls: () => calls,
  };
}

async function listen(handler: RequestListener): Promise<{ server: Server; port: number }> {
  const server = createServer(handler);
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  return { server, port: (server.address() as AddressInfo).port };
}

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: Buffer | string;
  /** send the body chunked (no Content-Length) */
  chunked?: boolean;
}
interface Received {
  status: number;
  /** raw header lines in order, Date left out */
  headers: string[];
  body: string;
}

function send(port: number, s: Sent): Promise<Received> {
  return new Promise((resolve, reject) => {
    const body = s.body === undefined ? undefined : Buffer.from(s.body);
    const headers: Record<string, string> = { ...s.headers };
    // node would add a Content-Length to req.end(body) on its own: chunked has to be asked for
    if (body) headers[s.chunked ? 'transfer-encoding' : 'content-length'] = s.chunked ? 'chunked' : String(body.length);
    const req = request({ host: '127.0.0.1', port, method: s.method ?? 'POST', path: s.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const raw = res.rawHeaders;
        const lines: string[] = [];
        for (let i = 0; i < raw.length; i += 2) if (raw[i] !== 'Date') lines.push(`${raw[i]}: ${raw[i + 1]}`);
        resolve({ status: res.statusCode!, headers: lines, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    req.end(body);
  });
}

const JSON_TYPE = { 'content-type': 'application/json' };
/** What a user can send to the predict routes, fast-path shaped or not. */
const CORPUS: [string, Sent][] = [
  ['mlflow json', { path: '/invocations', headers: JSON_TYPE, body: '{"inputs": [[1, 2]]}' }],
  ['mlflow csv', { path: '/invocations', headers: { 'content-type': 'text/csv; charset=utf-8' }, body: 'a\n1\n' }],
  ['mlflow wrong content type', { path: '/invocations', headers: { 'content-type': 'text/plain' }, body: '{}' }],
  ['mlflow no content type', { path: '/invocations', body: '{}' }],
  [
    'mlflow latin-1',
    { path: '/invocations', headers: { 'content-type': 'application/json; charset=latin-1' }, body: '{}' },
  ],
  ['mlflow empty body', { path: '/invocations', headers: JSON_TYPE, body: '' }],
  [
    'mlflow refusal',
    { path: '/invocations', headers: JSON_TYPE, body: '{"fail": {"status": 400, "code": "BAD_REQUEST"}}' },
  ],
  [
    'mlflow busy',
    { path: '/invocations', headers: JSON_TYPE, body: '{"fail": {"status": 503, "code": "SERVER_BUSY"}}' },
  ],
  ['mlflow crash', { path: '/invocations', headers: JSON_TYPE, body: '{"crash": true}' }],
  ['mlflow past the deadline', { path: '/invocations', headers: JSON_TYPE, body: '{"delayMs": 2000}' }],
  ['mlflow oversized', { path: '/invocations', headers: JSON_TYPE, body: `{"pad": "${'x'.repeat(MAX_BODY)}"}` }],
  [
    'mlflow gzip',
    { path: '/invocations', headers: { ...JSON_TYPE, 'content-encoding': 'gzip' }, body: gzipSync('{"a":1}') },
  ],
  ['mlflow query string', { path: '/invocations?x=1', headers: JSON_TYPE, body: '{}' }],
  ['mlflow other case', { path: '/Invocations', headers: JSON_TYPE, body: '{}' }],
  ['mlflow GET', { method: 'GET', path: '/invocations' }],
  ['mlflow PUT', { method: 'PUT', path: '/invocations', headers: JSON_TYPE, body: '{}' }],
  ['v2 json', { path: '/v2/models/m/infer', headers: JSON_TYPE, body: '{"inputs": []}' }],
  [
    'v2 binary',
    { path: '/v2/models/m/infer', headers: { 'inference-header-content-length': '2' }, body: '{"binary": 9}' },
  ],
  [
    'v2 bad header length',
    { path: '/v2/models/m/infer', headers: { 'inference-header-content-length': 'x' }, body: '{}' },
  ],
  [
    'v2 refusal',
    { path: '/v2/models/m/infer', headers: JSON_TYPE, body: '{"fail": {"status": 400, "code": "BAD_REQUEST"}}' },
  ],
  ['v2 crash', { path: '/v2/models/m/infer', headers: JSON_TYPE, body: '{"crash": true}' }],
  ['v2 past the deadline', { path: '/v2/models/m/infer', headers: JSON_TYPE, body: '{"delayMs": 2000}' }],
  ['v2 unknown model', { path: '/v2/models/other/infer', headers: JSON_TYPE, body: '{}' }],
  ['v2 trailing slash', { path: '/v2/models/m/infer/', headers: JSON_TYPE, body: '{}' }],
  ['v2 GET', { method: 'GET', path: '/v2/models/m/infer' }],
  ['v1 predict', { path: '/v1/models/m:predict', headers: JSON_TYPE, body: '{"instances": []}' }],
  ['v1 explain', { path: '/v1/models/m:explain', headers: JSON_TYPE, body: '{}' }],
  [
    'v1 refusal',
    { path: '/v1/models/m:predict', headers: JSON_TYPE, body: '{"fail": {"status": 400, "code": "BAD_REQUEST"}}' },
  ],
];

describe('createPredictFastPath (through createServeApp)', () => {
  let fast: ServeAppHandle;
  let slow: ServeAppHandle;
  let servers: Server[];
  let fastPort: number;
  let slowPort: number;
  const fastModel = modelDouble('m');
  const slowModel = modelDouble('m');

  beforeAll(async () => {
    const settings = { log: quiet, maxBodyBytes: MAX_BODY, requestTimeoutMs: 100, version: '1.0.0' };
    fast = createServeApp({ ...settings, registry: new Registry() });
    slow = createServeApp({ ...settings, registry: new Registry() });
    fast.setModel(fastModel, 0.1);
    slow.setModel(slowModel, 0.1);
    const a = await listen(fast.handler);
    const b = await listen(slow.app);
    servers = [a.server, b.server];
    fastPort = a.port;
    slowPort = b.port;
  });
  afterAll(async () => {
    for (const s of servers) {
      s.closeAllConnections();
      await new Promise((r) => s.close(r));
    }
  });

  it.each(CORPUS)('answers %s exactly as the express routes do', async (_name, sent) => {
    const [viaFast, viaExpress] = await Promise.all([send(fastPort, sent), send(slowPort, sent)]);
    expect(viaFast).toEqual(viaExpress);
  });

  it('counts the requests in the same metrics as the express routes', async () => {
    const counts = async (port: number) => {
      const text = (await send(port, { method: 'GET', path: '/metrics' })).body;
      return text
        .split('\n')
        .filter((l) => /^modelctl_serve_http_request(s_total|_duration_seconds_count)\{/.test(l))
        .sort();
    };
    // both servers have answered the corpus above, and nothing else
    const [fastCounts, slowCounts] = await Promise.all([counts(fastPort), counts(slowPort)]);
    expect(fastCounts).toContain(
      'modelctl_serve_http_requests_total{route="/v2/models/:name/infer",method="POST",status="200"} 3', // json, binary, trailing slash
    );
    expect(fastCounts).toEqual(slowCounts);
  });

  it('answers the same whether the body comes with a Content-Length (fast path) or chunked (express)', async () => {
    for (const [, sent] of CORPUS.filter(([, s]) => s.body !== undefined)) {
      const [sized, chunked] = await Promise.all([send(fastPort, sent), send(fastPort, { ...sent, chunked: true })]);
      expect([sent.path, chunked]).toEqual([sent.path, sized]);
    }
  });

  it('scores a request of each predict route, and refuses a wrong content type without scoring it', async () => {
    const before = fastModel.calls();
    const answers = await Promise.all([
      send(fastPort, { path: '/invocations', headers: JSON_TYPE, body: '{"inputs": [[1]]}' }),
      send(fastPort, { path: '/v2/models/m/infer', headers: JSON_TYPE, body: '{"inputs": []}' }),
      send(fastPort, { path: '/v1/models/m:predict', headers: JSON_TYPE, body: '{"instances": []}' }),
    ]);
    expect(answers.map((a) => JSON.parse(a.body) as unknown)).toEqual([
      { protocol: 'mlflow', format: 'json', body: '{"inputs": [[1]]}' },
      { protocol: 'oip-v2', body: '{"inputs": []}' },
      { protocol: 'kserve-v1', body: '{"instances": []}' },
    ]);
    expect(fastModel.calls()).toBe(before + 3);
    const refused = await send(fastPort, {
      path: '/invocations',
      headers: { 'content-type': 'text/html' },
      body: '{}',
    });
    expect(refused.status).toBe(415);
    expect(fastModel.calls()).toBe(before + 3);
  });

  it('closes the connection after each answer once draining', async () => {
    fast.state.startDraining();
    slow.state.startDraining();
    const sent: Sent = { path: '/invocations', headers: JSON_TYPE, body: '{}' };
    const [viaFast, viaExpress] = await Promise.all([send(fastPort, sent), send(slowPort, sent)]);
    expect(viaFast.headers).toContain('Connection: close');
    expect(viaFast).toEqual(viaExpress);
  });
});

describe('createPredictFastPath while the model loads (createServeFront)', () => {
  it('answers POST /invocations 503 and the probes exactly as the express routes do, without the express app', async () => {
    const settings = { log: quiet, maxBodyBytes: MAX_BODY, requestTimeoutMs: 100, version: '1.0.0' };
    let fallbacks = 0;
    const front = createServeFront({
      ...settings,
      registry: new Registry(),
      fallback: (_req, res) => {
        fallbacks += 1;
        res.writeHead(500).end();
      },
    });
    const slow = createServeApp({ ...settings, registry: new Registry() });
    const a = await listen(front.handler);
    const b = await listen(slow.app);
    try {
      const sent: Sent[] = [
        { path: '/invocations', headers: JSON_TYPE, body: '{"inputs": [[1]]}' },
        // express's route reads the body and refuses the request for the model first, the content type after
        { path: '/invocations', headers: { 'content-type': 'text/html' }, body: '{}' },
        { path: '/invocations', body: '' },
      ];
      for (const s of sent) {
        const [viaFront, viaExpress] = await Promise.all([send(a.port, s), send(b.port, s)]);
        expect(viaFront.status).toBe(503);
        expect(viaFront).toEqual(viaExpress);
      }
      const probes: Sent[] = [
        { method: 'GET', path: '/health/readiness' },
        { method: 'GET', path: '/health/liveness' },
      ];
      const answers = async () => {
        for (const s of probes) {
          const [viaFront, viaExpress] = await Promise.all([send(a.port, s), send(b.port, s)]);
          expect(viaFront).toEqual(viaExpress);
        }
        return (await send(a.port, probes[0]!)).status;
      };
      expect(await answers()).toBe(503);
      front.setModel(modelDouble('m'), 0.1);
      slow.setModel(modelDouble('m'), 0.1);
      expect(await answers()).toBe(200);
      expect(fallbacks).toBe(0);
      // every other request is the express app's: a probe's HEAD or trailing slash, /ping, a compressed body
      await send(a.port, { method: 'HEAD', path: '/health/readiness' });
      await send(a.port, { method: 'GET', path: '/health/readiness/' });
      await send(a.port, { method: 'GET', path: '/ping' });
      await send(a.port, { ...sent[0]!, headers: { ...JSON_TYPE, 'content-encoding': 'gzip' } });
      // a conditional GET: express's req.fresh answers 304 to `If-None-Match: *`
      await send(a.port, { method: 'GET', path: '/health/liveness', headers: { 'if-none-match': '*' } });
      expect(fallbacks).toBe(5);
    } finally {
      for (const s of [a.server, b.server]) {
        s.closeAllConnections();
        await new Promise((r) => s.close(r));
      }
    }
  });
});
