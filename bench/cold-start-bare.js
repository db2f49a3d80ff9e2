#!/usr/bin/env node
// The limit for cold start: a bare Node script that loads the ONNX model with onnxruntime-node, runs it once
// on the model's serving input example and prints one line. No HTTP, no MLmodel parsing, no worker threads.
// usage: node bench/cold-start-bare.js <model dir>
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import ort from 'onnxruntime-node';

/** The bare work: load the model, run it once on its serving input example; the run's output names. */
export async function loadAndRunOnce(dir) {
  const rows = JSON.parse(readFileSync(path.join(dir, 'serving_input_example.json'), 'utf8')).inputs;
  const session = await ort.InferenceSession.create(path.join(dir, 'model.onnx'), {
    executionProviders: ['cpu'],
    intraOpNumThreads: 1,
    interOpNumThreads: 1,
  });
  const x = new ort.Tensor('float32', Float32Array.from(rows.flat()), [rows.length, rows[0].length]);
  const out = await session.run({ [session.inputNames[0]]: x });
  return Object.keys(out).join(',');
}

// run as a script (bench/cold-start-thread-floor.js imports it on its worker thread instead)
if (import.meta.url === pathToFileURL(process.argv[1]).href) console.log(`ok ${await loadAndRunOnce(process.argv[2])}`);
