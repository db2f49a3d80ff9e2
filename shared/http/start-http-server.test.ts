import { describe, expect, it } from '@jest/globals';
import { createLogger } from '../log/create-logger.js';
import { startHttpServer } from './start-http-server.js';
import { Writable } from 'node:stream';

const quiet = createLogger({ name: 't', destination: new Writable({ write: (_c, _e, done) => done() }) });

describe('startHttpServer', () => {
  it('drains: in-flight requests finish, new connections are refused, close resolves', async () => {
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let drainStarted = false;
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      log: quiet,
      onDrainStart: () => (drainStarted = true),
      handler: (_req, res) => {
        void gate.then(() => res.end('done'));
      },
    });
    const url = `http://127.0.0.1:${server.port}/`;
    const inFlight = fetch(url).then((r) => r.text());
    await new Promise((r) => setTimeout(r, 50));
    const closed = server.close();
    expect(drainStarted).toBe(true);
    await expect(fetch(url)).rejects.toThrow();
    release();
    await expect(inFlight).resolves.toBe('done');
    await closed;
  });

  it('closes connections still busy after the drain timeout', async () => {
    const server = await startHttpServer({
      host: '127.0.0.1',
      port: 0,
      log: quiet,
      drainTimeoutMs: 100,
      handler: () => undefined,
    });
    const stuck = fetch(`http://127.0.0.1:${server.port}/`).catch((e: Error) => e);
    await new Promise((r) => setTimeout(r, 50));
    const started = Date.now();
    await server.close();
    expect(Date.now() - started).toBeLessThan(5000);
    expect(String(await stuck)).toMatch(/fetch failed/); // the busy connection was cut
  });
});
