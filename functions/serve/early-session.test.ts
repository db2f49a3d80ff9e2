import { describe, expect, it } from '@jest/globals';
import { readFileSync } from 'node:fs';
import { cp, mkdtemp, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';
import type { InferenceWorkerData } from './early-session.js';
import { guessOnnxPath, guessSessionOptions, MAX_GUESSED_FOLDER_BYTES, mlmodelMatchesGuess } from './early-session.js';
import type { WorkerInit } from './inference-worker.js';
import { createThreadInit, whenNativeIdle } from './thread-init.js';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
const IRIS = path.join(ROOT, 'examples', 'models', 'iris');
const DENSE = path.join(ROOT, 'examples', 'models', 'dense');

/** The settings serve's main thread hands the threads for a model folder without onnx_session_options. */
async function settingsOf(dir: string, intraOpNumThreads = 1): Promise<WorkerInit> {
  const { mapOnnxWeights, withWeightsFolder } = await import('./map-onnx-weights.js');
  const onnxPath = path.join(dir, 'model.onnx');
  const mapped = mapOnnxWeights(onnxPath);
  const options = guessSessionOptions(intraOpNumThreads);
  return {
    onnxPath,
    mappedHeader: mapped?.header ?? null,
    sessionOptions: mapped ? withWeightsFolder(options, mapped.folder) : options,
    modelName: 'm',
    signature: null,
    examplePath: null,
    limits: { maxValues: 1000 },
  };
}

/**
 * A real thread running loadEarlySession: it posts 'started', then
 * what it loaded (whether the early session was kept, the session's inputs) or that it was closing.
 */
function threadLoading(data: InferenceWorkerData): {
  started: Promise<void>;
  loaded: Promise<unknown>;
  worker: Worker;
} {
  const source = `
    const { parentPort, workerData } = require('node:worker_threads');
    parentPort.postMessage('started');
    import(workerData.module)
      .then((m) => m.loadEarlySession(workerData.data))
      .then((l) => parentPort.postMessage(l && { early: l.early, inputs: l.session.inputNames, options: l.init.sessionOptions }));`;
  // the build's (make test-unit builds first): a thread runs no TypeScript with parameter properties
  const module = path.join(ROOT, 'dist', 'functions', 'serve', 'early-session.js');
  const worker = new Worker(source, { eval: true, workerData: { module, data } });
  let started!: () => void;
  const startedP = new Promise<void>((r) => (started = r));
  const loaded = new Promise((resolve, reject) => {
    worker.on('message', (m) => (m === 'started' ? started() : resolve(m)));
    worker.once('error', reject);
  });
  return { started: startedP, loaded, worker };
}

/**
 * A thread guessing on a copy of dense changed by `change`, given (500 ms later, when a guessed session would be
 * loaded) the settings the guess names (those of dense's default options): what it loaded.
 */
async function guessOnDenseCopy(change: (dir: string) => Promise<void>): Promise<unknown> {
  const dir = await mkdtemp(path.join(tmpdir(), 'modelctl-early-session-'));
  try {
    await cp(DENSE, dir, { recursive: true });
    await change(dir);
    const init = createThreadInit<WorkerInit>();
    const thread = threadLoading({
      ...init.ref,
      guess: { onnxPath: guessOnnxPath(dir), sessionOptions: guessSessionOptions(1) },
    });
    await thread.started;
    await new Promise((r) => setTimeout(r, 500));
    init.provide(await settingsOf(dir));
    const loaded = await thread.loaded;
    await thread.worker.terminate();
    return loaded;
  } finally {
    await rm(dir, { recursive: true, force: true });
  }
}

describe('mlmodelMatchesGuess', () => {
  const DENSE_MLMODEL = readFileSync(path.join(DENSE, 'MLmodel'), 'utf8');
  it("takes MLflow's onnx MLmodels with unset session options", () => {
    expect(mlmodelMatchesGuess(DENSE_MLMODEL)).toBe(true);
    expect(mlmodelMatchesGuess(readFileSync(path.join(IRIS, 'MLmodel'), 'utf8'))).toBe(true);
    expect(mlmodelMatchesGuess(DENSE_MLMODEL.replaceAll('data: model.onnx', "data: 'model.onnx'"))).toBe(true);
    expect(mlmodelMatchesGuess(DENSE_MLMODEL.replace('onnx_session_options: null', 'onnx_session_options: {}'))).toBe(
      true,
    );
  });

  it('refuses what would make the settings differ from the guess', () => {
    const withOptions = [
      'onnx_session_options: {graph_optimization_level: 99}',
      'onnx_session_options:\n      intra_op_num_threads: 4',
    ];
    for (const options of withOptions)
      expect([options, mlmodelMatchesGuess(DENSE_MLMODEL.replace('onnx_session_options: null', options))]).toEqual([
        options,
        false,
      ]);
    // another model file (the onnx flavor's or pyfunc's), or none (a pyfunc model)
    expect(mlmodelMatchesGuess(DENSE_MLMODEL.replace('data: model.onnx', 'data: missing.onnx'))).toBe(false);
    expect(mlmodelMatchesGuess(DENSE_MLMODEL.replaceAll('data: model.onnx', 'data: model.onnx.bak'))).toBe(false);
    expect(
      mlmodelMatchesGuess(readFileSync(path.join(ROOT, 'examples', 'models', 'iris-sklearn', 'MLmodel'), 'utf8')),
    ).toBe(false);
    expect(mlmodelMatchesGuess('')).toBe(false);
  });
});

describe('loadEarlySession', () => {
  it('keeps the session begun on the guess when the settings name the same file and options', async () => {
    const init = createThreadInit<WorkerInit>();
    const guess = { onnxPath: guessOnnxPath(DENSE), sessionOptions: guessSessionOptions(1) };
    const thread = threadLoading({ ...init.ref, guess });
    await thread.started;
    await new Promise((r) => setTimeout(r, 500)); // the guessed session is loaded meanwhile
    init.provide(await settingsOf(DENSE));
    await expect(thread.loaded).resolves.toMatchObject({ early: true, inputs: ['X'] });
    await thread.worker.terminate();
  });

  it("creates the settings' own session when they differ from the guess", async () => {
    const init = createThreadInit<WorkerInit>();
    const guess = { onnxPath: guessOnnxPath(DENSE), sessionOptions: guessSessionOptions(1) };
    const thread = threadLoading({ ...init.ref, guess });
    await thread.started;
    const settings = await settingsOf(IRIS, 2);
    init.provide(settings);
    await expect(thread.loaded).resolves.toEqual({
      early: false,
      inputs: ['X'],
      options: settings.sessionOptions,
    });
    await thread.worker.terminate();
  });

  it('waits for the settings when the model folder is larger than a guess is worth', async () => {
    // dense with one more file (sparse: no disk used) that puts its folder just past the bound
    const loaded = await guessOnDenseCopy(async (dir) => {
      await writeFile(path.join(dir, 'weights.bin'), '');
      await truncate(path.join(dir, 'weights.bin'), MAX_GUESSED_FOLDER_BYTES);
    });
    expect(loaded).toMatchObject({ early: false, inputs: ['X'] });
  });

  it('creates no session on the guess for a model whose MLmodel sets session options', async () => {
    const loaded = await guessOnDenseCopy(async (dir) => {
      const mlmodel = readFileSync(path.join(dir, 'MLmodel'), 'utf8');
      await writeFile(
        path.join(dir, 'MLmodel'),
        mlmodel.replace('onnx_session_options: null', 'onnx_session_options: {graph_optimization_level: 99}'),
      );
    });
    expect(loaded).toMatchObject({ early: false, inputs: ['X'] });
  });

  it('loads the settings after a guess that does not load (no such file)', async () => {
    const init = createThreadInit<WorkerInit>();
    const guess = { onnxPath: guessOnnxPath(path.join(ROOT, 'no-such-model')), sessionOptions: guessSessionOptions(1) };
    const thread = threadLoading({ ...init.ref, guess });
    init.provide(await settingsOf(IRIS));
    await expect(thread.loaded).resolves.toMatchObject({ early: false, inputs: ['X'] });
    await thread.worker.terminate();
  });

  it('lets a close wait for the guessed session, and then loads nothing more', async () => {
    const init = createThreadInit<WorkerInit>();
    const guess = { onnxPath: guessOnnxPath(DENSE), sessionOptions: guessSessionOptions(1) };
    const thread = threadLoading({ ...init.ref, guess });
    await thread.started;
    await new Promise((r) => setTimeout(r, 20));
    await whenNativeIdle(init.ref, new Promise(() => undefined));
    init.provide(await settingsOf(IRIS));
    // the thread does not start the settings' session once the threads are closing
    await expect(thread.loaded).resolves.toBeNull();
    await thread.worker.terminate();
  });
});
