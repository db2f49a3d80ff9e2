// `modelctl serve` reads its settings from flags (commander) and, without flags, from the environment alone:
// then cli/modelctl.ts starts serving without loading commander (cold start, issue 16). Both starts serve alike.
import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { freePort } from '../testkit/peers/peer-run.js';
import { EXAMPLE_MODELS, runModelctl } from '../testkit/modelctl-process.js';

const IRIS = path.join(EXAMPLE_MODELS, 'iris');
const BODY = readFileSync(path.join(IRIS, 'serving_input_example.json'), 'utf8');

/** Starts `modelctl <args>` with `env`, waits for readiness, predicts once, stops it: the answer and the logs. */
async function serveOnce(args: string[], env: Record<string, string>, port: number) {
  const proc = runModelctl(args, { LOG_LEVEL: 'info', ...env });
  try {
    const url = `http://127.0.0.1:${port}`;
    const deadline = Date.now() + 30_000;
    while (
      !(await fetch(`${url}/health/readiness`).then(
        (r) => r.ok,
        () => false,
      ))
    ) {
      if (Date.now() > deadline || proc.child.exitCode !== null) throw new Error(`not ready:\n${proc.output()}`);
      await new Promise((r) => setTimeout(r, 50));
    }
    const res = await fetch(`${url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: BODY,
    });
    return { status: res.status, body: (await res.json()) as unknown, output: proc.output() };
  } finally {
    await proc.stop();
  }
}

describe('modelctl serve settings', () => {
  it('serves the same from flags, from MODELCTL_ROLE alone and from `serve` with the environment', async () => {
    let port = await freePort();
    const flags = [
      '--model-local-path',
      IRIS,
      '--port',
      String(port),
      '--host',
      '127.0.0.1',
      '--model-name',
      'flagged',
    ];
    const flagged = await serveOnce(['serve', ...flags], {}, port);
    expect(flagged.status).toBe(200);
    expect(flagged.output).toMatch(/"model":"flagged".*"model ready"/);
    expect(flagged.body).toEqual({ predictions: { label: [0, 0, 0], probabilities: expect.any(Array) } });
    for (const args of [[], ['serve']]) {
      port = await freePort();
      const env = { MODELCTL_ROLE: 'serve', MODEL_LOCAL_PATH: IRIS, PORT: String(port), HOST: '127.0.0.1' };
      const fromEnv = await serveOnce(args, { ...env, MODEL_NAME: 'from-env' }, port);
      expect({ args, status: fromEnv.status, body: fromEnv.body }).toEqual({ args, status: 200, body: flagged.body });
      expect(fromEnv.output).toMatch(/"model":"from-env".*"model ready"/);
    }
  });

  it('refuses a bad setting in one line and exits 1, with or without flags', async () => {
    for (const args of [['serve'], ['serve', '--port', 'eighty']]) {
      const proc = runModelctl(args, { MODEL_LOCAL_PATH: IRIS, ...(args.length === 1 ? { PORT: 'eighty' } : {}) });
      expect({ args, code: await proc.exited }).toEqual({ args, code: 1 });
      expect(proc.output()).toMatch(/^modelctl serve: PORT: .*\n$/);
    }
  });
});
