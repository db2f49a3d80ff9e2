// modelctl serve memory-maps the weights an ONNX model keeps inside model.onnx (functions/serve/map-onnx-weights.ts):
// the answers are those of the model loaded as it is, the inference threads share the file's pages, and a
// truncated model file is never mapped.
import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFileSync } from 'node:child_process';
import { cpSync, mkdtempSync, readFileSync, rmSync, truncateSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { FIXTURE_MODELS } from './fixture-models.js';
import { REPO_ROOT, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

const MODEL = path.join(FIXTURE_MODELS, 'embedded-weights');
const IDS = [0, 1, 5, 1023, 512, 7];

/**
 * The model's answer from onnxruntime-node loading model.onnx by its path (the whole file parsed, nothing mapped),
 * in a process of its own: onnxruntime's typed arrays are not those of jest's sandbox.
 */
function answerOfPlainLoad(ids: number[]): number[][] {
  const script = `
    import ort from 'onnxruntime-node';
    const [file, ids] = [process.argv[1], JSON.parse(process.argv[2])];
    const session = await ort.InferenceSession.create(file, { executionProviders: ['cpu'] });
    const { y } = await session.run({ ids: new ort.Tensor('int64', BigInt64Array.from(ids.map(BigInt)), [ids.length]) });
    const [rows, cols] = y.dims;
    const data = Array.from(y.data);
    console.log(JSON.stringify(Array.from({ length: rows }, (_, r) => data.slice(r * cols, (r + 1) * cols))));
  `;
  const out = execFileSync(
    process.execPath,
    ['--input-type=module', '-e', script, path.join(MODEL, 'model.onnx'), JSON.stringify(ids)],
    { cwd: REPO_ROOT, encoding: 'utf8' },
  );
  return JSON.parse(out) as number[][];
}

describe('modelctl serve on a model whose weights are inside model.onnx', () => {
  let server: ModelctlProcess;
  beforeAll(async () => {
    server = await startModelctlServe({ MODEL_LOCAL_PATH: MODEL, SERVE_MAX_CONCURRENCY: '2', LOG_LEVEL: 'info' });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('answers exactly as the model loaded as it is', async () => {
    const res = await fetch(`${server.url}/invocations`, {
      method: 'POST',
      headers: { 'Content-Type': 'application/json' },
      body: JSON.stringify({ inputs: IDS }),
    });
    expect(res.status).toBe(200);
    // float32 values print in full in both (JSON numbers of the same doubles)
    expect(((await res.json()) as { predictions: unknown }).predictions).toEqual({ y: answerOfPlainLoad(IDS) });
  });

  it('maps the large weights from the model file, once for all its inference threads', async () => {
    // the threads after the first start once it is ready (issue 16): wait for them
    for (let i = 0; i < 200 && !server.output().includes('"every inference thread loaded"'); i++)
      await new Promise((r) => setTimeout(r, 50));
    const line = server
      .output()
      .split('\n')
      .find((l) => l.includes('"model weights mapped"'));
    expect(JSON.parse(line!)).toMatchObject({ tensors: 2, bytes: 1024 * 64 * 4 + 64 * 16 * 4 });
    // onnxruntime maps them from model.onnx itself: the process's mappings name the file
    const maps = readFileSync(`/proc/${server.child.pid}/maps`, 'utf8');
    const ofModel = maps.split('\n').filter((l) => l.endsWith(path.join(MODEL, 'model.onnx')));
    expect(ofModel.length).toBeGreaterThanOrEqual(2);
  });
});

describe('modelctl serve on a truncated model.onnx', () => {
  let dir: string;
  beforeAll(() => {
    dir = mkdtempSync(path.join(tmpdir(), 'serve-mapped-weights-'));
  });
  afterAll(() => rmSync(dir, { recursive: true, force: true }));

  it('never maps it: it says so, then fails to load it as it did before', async () => {
    const copy = path.join(dir, 'model');
    cpSync(MODEL, copy, { recursive: true });
    truncateSync(path.join(copy, 'model.onnx'), 100_000); // cut inside the embedding table
    const server = await startModelctlServe({ MODEL_LOCAL_PATH: copy, LOG_LEVEL: 'info' }, { waitReady: false });
    expect(await server.exited).not.toBe(0);
    const warning = server
      .output()
      .split('\n')
      .find((l) => l.includes('"cannot map the model weights; loading the model file as it is"'));
    expect(JSON.parse(warning!)).toMatchObject({ level: 'warn', reason: expect.stringMatching(/truncated/) });
    expect(server.output()).toMatch(/MODEL_LOAD_FAILED|onnxruntime cannot load/);
    expect(server.output()).not.toContain('"model weights mapped"');
  });
});
