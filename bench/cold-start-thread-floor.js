#!/usr/bin/env node
// The floor of any server that runs inference off its main thread, as modelctl serve does: the bare script's work
// (bench/cold-start-bare.js: onnxruntime-node load, session, one run) on a worker thread the process starts first
// thing, which posts the run's output names back; the main thread prints them. No HTTP, no settings, no piscina.
// usage: node bench/cold-start-thread-floor.js <model dir>
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads';

if (isMainThread) {
  const worker = new Worker(new URL(import.meta.url), { workerData: process.argv[2] });
  worker.once('message', (names) => {
    console.log(`ok ${names}`);
    process.exit(0);
  });
  worker.once('error', (err) => {
    console.error(err);
    process.exit(1);
  });
} else {
  const { default: ort } = await import('onnxruntime-node');
  const dir = workerData;
  const rows = JSON.parse(readFileSync(path.join(dir, 'serving_input_example.json'), 'utf8')).inputs;
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const x = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0].length]);
  const out = await session.run({ [session.inputNames[0]]: x });
  parentPort.postMessage(Object.keys(out).join(','));
}
