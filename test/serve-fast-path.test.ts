import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { request } from 'node:http';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

// serve answers the predict routes on plain node:http when a request has a Content-Length (predict-fast-path.ts)
// and leaves chunked bodies to express: the same request both ways must get the same answer.

const ROWS = [
  [5.1, 3.5, 1.4, 0.2],
  [6.7, 3.0, 5.2, 2.3],
];
const JSON_TYPE = { 'content-type': 'application/json' };
const v2 = (data: unknown, datatype = 'FP32', shape = [2, 4]) =>
  JSON.stringify({ inputs: [{ name: 'X', shape, datatype, data }] });

interface Sent {
  method?: string;
  path: string;
  headers?: Record<string, string>;
  body?: string;
}
interface Received {
  status: number;
  headers: string[];
  body: string;
}

/** One request; `chunked` sends the body without a Content-Length. Headers in order, Date left out. */
function send(url: string, s: Sent, chunked: boolean): Promise<Received> {
  const { hostname, port } = new URL(url);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string> = { ...s.headers };
    if (s.body !== undefined && !chunked) headers['content-length'] = String(Buffer.byteLength(s.body));
    const req = request({ host: hostname, port, method: s.method ?? 'POST', path: s.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (c: Buffer) => chunks.push(c));
      res.on('end', () => {
        const lines: string[] = [];
        for (let i = 0; i < res.rawHeaders.length; i += 2)
          if (res.rawHeaders[i] !== 'Date') lines.push(`${res.rawHeaders[i]}: ${res.rawHeaders[i + 1]}`);
        resolve({ status: res.statusCode!, headers: lines, body: Buffer.concat(chunks).toString('utf8') });
      });
    });
    req.on('error', reject);
    if (chunked && s.body !== undefined) req.write(s.body);
    req.end(chunked ? undefined : s.body);
  });
}

const CORPUS: [string, Sent][] = [
  ['v2 infer', { path: '/v2/models/iris/infer', headers: JSON_TYPE, body: v2(ROWS.flat()) }],
  ['v2 malformed JSON', { path: '/v2/models/iris/infer', headers: JSON_TYPE, body: '{"inputs": [' }],
  ['v2 wrong datatype', { path: '/v2/models/iris/infer', headers: JSON_TYPE, body: v2([1, 2, 3, 4], 'INT64', [1, 4]) }],
  ['v2 wrong count', { path: '/v2/models/iris/infer', headers: JSON_TYPE, body: v2([1, 2, 3]) }],
  ['v2 unknown model', { path: '/v2/models/other/infer', headers: JSON_TYPE, body: v2(ROWS.flat()) }],
  ['v2 GET', { method: 'GET', path: '/v2/models/iris/infer' }],
  ['mlflow inputs', { path: '/invocations', headers: JSON_TYPE, body: JSON.stringify({ inputs: ROWS }) }],
  ['mlflow csv', { path: '/invocations', headers: { 'content-type': 'text/csv' }, body: 'a,b,c,d\n1,2,3,4\n' }],
  ['mlflow malformed JSON', { path: '/invocations', headers: JSON_TYPE, body: '{bad json' }],
  ['mlflow too few columns', { path: '/invocations', headers: JSON_TYPE, body: '{"inputs": [[1, 2, 3]]}' }],
  ['mlflow wrong content type', { path: '/invocations', headers: { 'content-type': 'text/plain' }, body: '{}' }],
  ['mlflow GET', { method: 'GET', path: '/invocations' }],
  ['v1 predict', { path: '/v1/models/iris:predict', headers: JSON_TYPE, body: JSON.stringify({ instances: ROWS }) }],
  ['v1 not instances', { path: '/v1/models/iris:predict', headers: JSON_TYPE, body: JSON.stringify({ inputs: ROWS }) }],
];

describe('the predict fast path on the example model', () => {
  let server: ModelctlProcess;
  beforeAll(async () => {
    server = await startModelctlServe({ MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris') });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it.each(CORPUS)('answers %s alike with a Content-Length and chunked', async (_name, sent) => {
    const sized = await send(server.url, sent, false);
    const chunked = await send(server.url, sent, true);
    expect(sized).toEqual(chunked);
  });

  it('answers concurrent good and bad requests (merged into batches) each as it answers them alone', async () => {
    const alone = await Promise.all(CORPUS.map(async ([, s]) => send(server.url, s, false)));
    const mixed = Array.from({ length: 60 }, (_, i) => i % CORPUS.length);
    const together = await Promise.all(mixed.map((i) => send(server.url, CORPUS[i]![1], false)));
    expect(together).toEqual(mixed.map((i) => alone[i]));
    expect(together.filter((r) => r.status === 200).length).toBeGreaterThan(10);
    expect(together.filter((r) => r.status === 400).length).toBeGreaterThan(10);
  });
});
