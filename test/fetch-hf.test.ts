import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { createHash } from 'node:crypto';
import { mkdir, mkdtemp, readFile, readlink, rm, stat } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readHub } from '../testkit/peers/hub.js';
import { jsonLines, listFiles, runFetch } from './fetch-helpers.js';

const hub = readHub();
const tiny = hub.repos.tiny;

let work: string;
beforeAll(async () => {
  work = await mkdtemp(path.join(tmpdir(), 'modelctl-fetch-hf-'));
});
afterAll(async () => {
  await rm(work, { recursive: true, force: true });
});

/** Every file of the fixture repo is at `modelDir` with its exact bytes. */
async function expectRepoFiles(modelDir: string): Promise<void> {
  expect(await listFiles(modelDir)).toEqual(Object.keys(tiny.files).sort());
  for (const [name, meta] of Object.entries(tiny.files)) {
    const digest = createHash('sha256')
      .update(await readFile(path.join(modelDir, name)))
      .digest('hex');
    expect({ name, digest }).toEqual({ name, digest: meta.sha256 });
  }
}

/** A new, empty node cache folder `<work>/<name>` (each test its own: none depends on another's files). */
async function emptyNodeCache(name: string): Promise<string> {
  const dir = path.join(work, name);
  await mkdir(dir);
  return dir;
}

/** `modelctl fetch hf://<tiny>` from the local Hub with an empty node cache, into `<work>/<name>`. */
async function fetchTinyFromHub(name: string): Promise<{ out: string; run: Awaited<ReturnType<typeof runFetch>> }> {
  const out = path.join(work, name);
  const run = await runFetch({
    MODEL_URI: `hf://${tiny.id}`,
    OUTPUT_PATH: out,
    HF_HUB_CACHE: await emptyNodeCache(`${name}-node-cache`),
    HF_ENDPOINT: hub.url,
  });
  return { out, run };
}

describe('modelctl fetch hf://', () => {
  it('downloads a repo missing from the node cache in the Hugging Face layout', async () => {
    const { out, run } = await fetchTinyFromHub('download');
    expect({ code: run.code, output: run.output }).toEqual({
      code: 0,
      output: expect.stringContaining('"source":"hf-downloaded"'),
    });
    const snapshot = path.join(out, '.hf-cache', `models--${tiny.id.replace('/', '--')}`, 'snapshots', tiny.commit);
    expect(await readlink(path.join(out, 'model'))).toBe(snapshot);
    await expectRepoFiles(path.join(out, 'model'));
  });

  it('reports progress against the real totals of the snapshot (bytes, files, 100% at the end)', async () => {
    const out = path.join(work, 'download-progress');
    const run = await runFetch({
      MODEL_URI: `hf://${tiny.id}`,
      OUTPUT_PATH: out,
      HF_ENDPOINT: hub.url,
      PROGRESS: 'json',
    });
    expect(run.code).toBe(0);
    const names = Object.keys(tiny.files);
    const sizes = await Promise.all(names.map(async (n) => (await stat(path.join(out, 'model', n))).size));
    const last = jsonLines(run.output)
      .filter((l) => l.msg === 'fetch progress')
      .at(-1);
    expect(last).toMatchObject({
      totalBytes: sizes.reduce((a, b) => a + b, 0),
      bytes: sizes.reduce((a, b) => a + b, 0),
      files: names.length,
      percent: 100,
    });
  });

  it('serves a revision the node cache holds without asking the Hub', async () => {
    // a cache filled by a download stands for the agent's node cache; then the Hub endpoint is unreachable
    const filled = await fetchTinyFromHub('node-fill');
    expect(filled.run.code).toBe(0);
    const nodeCache = path.join(filled.out, '.hf-cache');
    const out = path.join(work, 'node-hit');
    for (const revision of ['', `@${tiny.commit}`]) {
      const run = await runFetch({
        MODEL_URI: `hf://${tiny.id}${revision}`,
        OUTPUT_PATH: out,
        HF_HUB_CACHE: nodeCache,
        HF_ENDPOINT: 'http://127.0.0.1:9',
      });
      expect({ code: run.code, output: run.output }).toEqual({
        code: 0,
        output: expect.stringContaining('"source":"hf-node-cache"'),
      });
      await expectRepoFiles(path.join(out, 'model'));
    }
  });

  // STORAGE_STRATEGY=pvc: test/fetch-hf-pvc.test.ts (an entry of the shared cache, governed by cleanup)

  it('exits 2 for a repo the Hub does not have', async () => {
    const run = await runFetch({
      MODEL_URI: 'hf://test-org/no-such-repo',
      OUTPUT_PATH: path.join(work, 'missing'),
      HF_HUB_CACHE: await emptyNodeCache('missing-node-cache'),
      HF_ENDPOINT: hub.url,
    });
    expect(run.code).toBe(2);
    expect(run.output).toContain('test-org/no-such-repo');
  });
});
