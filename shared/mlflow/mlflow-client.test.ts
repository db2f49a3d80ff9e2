import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { z } from 'zod';
import { MlflowClient } from './mlflow-client.js';

/** A small real HTTP server whose answers the tests script per path. */
let server: Server;
let base: string;
const seen: { url: string; authorization: string | undefined }[] = [];
const script = new Map<string, ((req: IncomingMessage, res: ServerResponse) => void)[]>();

beforeAll(async () => {
  server = createServer((req, res) => {
    seen.push({ url: req.url ?? '', authorization: req.headers.authorization });
    const handlers = script.get(new URL(req.url ?? '/', 'http://x').pathname) ?? [];
    const next = handlers.length > 1 ? handlers.shift()! : handlers[0];
    if (next) return next(req, res);
    res.writeHead(404, { 'content-type': 'application/json' }).end('{"error_code":"ENDPOINT_NOT_FOUND"}');
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
afterAll(async () => {
  await new Promise((r) => server.close(r));
});

const json =
  (status: number, body: unknown, headers: Record<string, string> = {}) =>
  (_req: IncomingMessage, res: ServerResponse) =>
    res.writeHead(status, { 'content-type': 'application/json', ...headers }).end(JSON.stringify(body));

const Answer = z.object({ artifact_uri: z.string() });

function client(extra: Partial<ConstructorParameters<typeof MlflowClient>[0]> = {}): MlflowClient {
  return new MlflowClient({ trackingUri: base, maxRetries: 2, backoffMs: 1, ...extra });
}

describe('MlflowClient', () => {
  it('sends basic auth from credentials in the tracking URI and keeps them out of its origin', async () => {
    script.set('/api/2.0/mlflow/a', [json(200, { artifact_uri: 'mlflow-artifacts:/1' })]);
    const c = client({ trackingUri: base.replace('http://', 'http://alice:s3cret@') });
    await expect(c.getJson({ path: '/api/2.0/mlflow/a', schema: Answer, what: 'a' })).resolves.toEqual({
      artifact_uri: 'mlflow-artifacts:/1',
    });
    expect(seen.at(-1)?.authorization).toBe(`Basic ${Buffer.from('alice:s3cret').toString('base64')}`);
    expect(c.origin).toBe(base);
    await c.close();
  });

  it('retries a 503 with Retry-After and then succeeds', async () => {
    script.set('/api/2.0/mlflow/b', [
      json(503, { message: 'busy' }, { 'retry-after': '0' }),
      json(200, { artifact_uri: 'x' }),
    ]);
    const retries: number[] = [];
    const c = client({ onRetry: (a) => retries.push(a.retry) });
    await expect(c.getJson({ path: '/api/2.0/mlflow/b', schema: Answer, what: 'b' })).resolves.toEqual({
      artifact_uri: 'x',
    });
    expect(retries).toEqual([1]);
    await c.close();
  });

  it('fails a 403 at once with MLFLOW_AUTH and says what to check', async () => {
    script.set('/api/2.0/mlflow/c', [json(403, { error_code: 'PERMISSION_DENIED', message: 'no' })]);
    const retries: number[] = [];
    const c = client({ token: 'tok-123', onRetry: (a) => retries.push(a.retry) });
    const err = await c
      .getJson({ path: '/api/2.0/mlflow/c', schema: Answer, what: 'version 1 of model "m"' })
      .catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'MLFLOW_AUTH', upstreamStatus: 403 });
    expect((err as Error).message).toMatch(/answered 403 for version 1 of model "m": check MLFLOW_TRACKING_USERNAME/);
    expect((err as Error).message).not.toContain('tok-123');
    expect(seen.at(-1)?.authorization).toBe('Bearer tok-123');
    expect(retries).toEqual([]);
    await c.close();
  });

  it('calls an alias MLflow answers 400 "not found" for MODEL_NOT_FOUND', async () => {
    script.set('/api/2.0/mlflow/d', [
      json(400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'Registered model alias x not found.' }),
    ]);
    const c = client();
    await expect(c.getJson({ path: '/api/2.0/mlflow/d', schema: Answer, what: 'alias "x"' })).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
    });
    await c.close();
  });

  it('gives up after maxRetries on 500s and says so', async () => {
    script.set('/api/2.0/mlflow/e', [json(500, { message: 'boom' })]);
    const before = seen.length;
    const c = client();
    const err = await c.getJson({ path: '/api/2.0/mlflow/e', schema: Answer, what: 'e' }).catch((x: unknown) => x);
    expect(err).toMatchObject({ code: 'MLFLOW_UNAVAILABLE', upstreamStatus: 500 });
    expect((err as Error).message).toMatch(/gave up on e after 2 retries/);
    expect(seen.length - before).toBe(3);
    await c.close();
  });

  it('refuses a 200 whose body is not what the API documents', async () => {
    script.set('/api/2.0/mlflow/f', [json(200, { something: 'else' })]);
    const c = client();
    await expect(c.getJson({ path: '/api/2.0/mlflow/f', schema: Answer, what: 'f' })).rejects.toMatchObject({
      code: 'MLFLOW_BAD_RESPONSE',
    });
    await c.close();
  });

  it('answers a refused optional request as a result (tryPostJson), after retrying a 503 before it', async () => {
    script.set('/api/2.0/mlflow/g', [json(503, { message: 'busy' }, { 'retry-after': '0' }), json(404, {})]);
    const c = client();
    const refused = await c.tryPostJson({ path: '/api/2.0/mlflow/g', body: {}, schema: Answer, what: 'g' });
    expect(refused).toMatchObject({ ok: false, refusal: { code: 'MODEL_NOT_FOUND', upstreamStatus: 404 } });
    script.set('/api/2.0/mlflow/h', [json(400, { error_code: 'INVALID_PARAMETER_VALUE', message: 'no such filter' })]);
    const bad = await c.tryPostJson({ path: '/api/2.0/mlflow/h', body: {}, schema: Answer, what: 'h' });
    expect(bad).toMatchObject({ ok: false, refusal: { code: 'MLFLOW_BAD_REQUEST' } });
    script.set('/api/2.0/mlflow/i', [json(200, { artifact_uri: 'y' })]);
    await expect(c.tryPostJson({ path: '/api/2.0/mlflow/i', body: {}, schema: Answer, what: 'i' })).resolves.toEqual({
      ok: true,
      data: { artifact_uri: 'y' },
    });
    await c.close();
  });

  it('still throws auth failures from tryPostJson, and the refusal from postJson', async () => {
    script.set('/api/2.0/mlflow/j', [json(401, {})]);
    const c = client();
    await expect(
      c.tryPostJson({ path: '/api/2.0/mlflow/j', body: {}, schema: Answer, what: 'j' }),
    ).rejects.toMatchObject({
      code: 'MLFLOW_AUTH',
    });
    script.set('/api/2.0/mlflow/k', [json(404, {})]);
    await expect(c.postJson({ path: '/api/2.0/mlflow/k', body: {}, schema: Answer, what: 'k' })).rejects.toMatchObject({
      code: 'MODEL_NOT_FOUND',
    });
    await c.close();
  });
});
