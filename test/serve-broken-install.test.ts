import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { cp, mkdtemp, readdir, rm } from 'node:fs/promises';
import path from 'node:path';
import { EXAMPLE_MODELS, REPO_ROOT, startModelctlServe } from '../testkit/modelctl-process.js';

/**
 * serve imports its express routes only when a request first needs them (cold start, issue 16). When that import
 * fails (a broken install: a file of the bundle missing), serve must not stay ready with only the probes and the
 * predict routes working: it exits 1 with the error, as a failure at the start does.
 */
let bundle: string;

beforeAll(async () => {
  // a copy of the built bundle beside the original, so that its imports of node_modules still resolve
  bundle = await mkdtemp(path.join(REPO_ROOT, 'dist', 'bundle-broken-'));
  await cp(path.join(REPO_ROOT, 'dist', 'bundle'), bundle, { recursive: true });
});
afterAll(async () => {
  await rm(bundle, { recursive: true, force: true });
});

describe('modelctl serve with its express routes missing from the install', () => {
  it('exits 1 with the error at the first request that needs them, instead of staying ready half-broken', async () => {
    const serve = await startModelctlServe(
      { MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris') },
      { bin: path.join(bundle, 'modelctl.js') },
    );
    try {
      // the fast path and the probes do not need express: they answer while the file is gone
      const chunks = (await readdir(bundle)).filter((f) => /^create-serve-app-.*\.js$/.test(f));
      expect(chunks).toHaveLength(1);
      await rm(path.join(bundle, chunks[0]!));
      expect((await fetch(`${serve.url}/health/readiness`)).status).toBe(200);
      const scored = await fetch(`${serve.url}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
      });
      expect(scored.status).toBe(200);

      // /ping is an express route
      await fetch(`${serve.url}/ping`).catch(() => undefined);
      let timer: NodeJS.Timeout | undefined;
      const code = await Promise.race([
        serve.exited,
        new Promise((resolve) => (timer = setTimeout(() => resolve('still running after 15 s'), 15_000))),
      ]);
      clearTimeout(timer);
      expect(code).toBe(1);
      expect(serve.output()).toMatch(/modelctl serve: cannot load the HTTP routes: .*create-serve-app-/);
    } finally {
      await serve.stop();
    }
  });
});
