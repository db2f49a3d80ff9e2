import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import express from 'express';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { AppError } from '../errors/app-error.js';
import { addSecretValues, createLogger } from '../log/create-logger.js';
import { httpErrorHandler } from './http-error-handler.js';

let server: Server;
let base: string;

/** Two apps in one: /serve/* shaped like serve (KServe's {error} under /serve/v2), /events like the functions. */
beforeAll(async () => {
  const log = createLogger({ name: 'test', level: 'silent' });
  const thrown: Record<string, () => unknown> = {
    refused: () => new AppError({ code: 'BAD_REQUEST', statusCode: 400, message: 'no: s3cr3t-value' }),
    busy: () => new AppError({ code: 'SERVER_BUSY', statusCode: 503, message: 'queue full' }),
    bug: () => new Error('stack details'),
  };
  const serve = express.Router();
  const events = express.Router();
  for (const router of [serve, events]) {
    router.post('/:what', express.json({ limit: 10 }), (req) => {
      throw thrown[String(req.params.what)]!();
    });
  }
  serve.use(
    httpErrorHandler({
      log,
      bodyOf: (path, a) =>
        path.startsWith('/v2/') ? { error: a.message } : { error_code: a.code, message: a.message },
      relayed: [503],
      internal: { message: 'Internal error' },
      refusedLevel: 'debug',
      noun: 'request',
      tooLargeHint: '(LIMIT)',
    }),
  );
  events.use(
    httpErrorHandler({
      log,
      bodyOf: (_path, a) => ({ error_code: a.code, message: a.message }),
      internal: { status: 500, message: 'may be retried' },
      refusedLevel: 'warn',
      noun: 'event',
      redact: true,
    }),
  );
  const app = express();
  app.use('/serve', serve);
  app.use('/events', events);
  server = app.listen(0, '127.0.0.1');
  await new Promise((r) => server.once('listening', r));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  addSecretValues(['s3cr3t-value']);
});

afterAll(async () => {
  await new Promise((r) => server.close(r));
});

async function post(path: string, body = '{}'): Promise<{ status: number; json: unknown }> {
  const res = await fetch(`${base}${path}`, { method: 'POST', body, headers: { 'content-type': 'application/json' } });
  return { status: res.status, json: await res.json() };
}

describe('httpErrorHandler', () => {
  it('answers a refusal with its code and message in the body shape of the path', async () => {
    expect(await post('/serve/refused')).toEqual({
      status: 400,
      json: { error_code: 'BAD_REQUEST', message: 'no: s3cr3t-value' },
    });
    expect((await post('/events/refused')).json).toEqual({ error_code: 'BAD_REQUEST', message: 'no: [REDACTED]' });
  });

  it('relays the 5xx that are not the server fault, and hides the others', async () => {
    expect(await post('/serve/busy')).toEqual({
      status: 503,
      json: { error_code: 'SERVER_BUSY', message: 'queue full' },
    });
    expect(await post('/serve/bug')).toEqual({
      status: 500,
      json: { error_code: 'INTERNAL_ERROR', message: 'Internal error' },
    });
    expect(await post('/events/busy')).toEqual({
      status: 500,
      json: { error_code: 'INTERNAL_ERROR', message: 'may be retried' },
    });
  });

  it('names the limit of a body too large', async () => {
    const tooLarge = await post('/serve/refused', JSON.stringify({ a: 'x'.repeat(100) }));
    expect(tooLarge).toEqual({
      status: 413,
      json: {
        error_code: 'REQUEST_LIMIT_EXCEEDED',
        message: 'The request body is larger than the server accepts (LIMIT)',
      },
    });
  });
});
