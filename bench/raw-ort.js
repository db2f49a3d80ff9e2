#!/usr/bin/env node
// The limit for serving overhead: onnxruntime-node `session.run` in-process, no HTTP, no JSON.
// 1. one session on the main thread, sequential runs: per-call latency;
// 2. THREADS worker threads, each with its own session (what modelctl serve does with SERVE_MAX_CONCURRENCY),
//    running back to back for SECONDS: calls per second.
// 3. JSON.parse of the request body on one thread, sequential: what any JSON server pays before the model runs.
// Session options as modelctl serve's defaults: cpu, intraOpNumThreads 1, interOpNumThreads 1.
// usage: node bench/raw-ort.js --model model.onnx --body request.json [--threads 2] [--seconds 5]
//   (request.json: {"inputs": [[...], ...]} of float32 rows, the same body the HTTP benchmark posts)
// Prints one JSON line.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { Worker, isMainThread, workerData, parentPort } from 'node:worker_threads';
import ort from 'onnxruntime-node';

const OPTIONS = { executionProviders: ['cpu'], intraOpNumThreads: 1, interOpNumThreads: 1 };

async function openSession(modelPath, rows) {
  const session = await ort.InferenceSession.create(modelPath, OPTIONS);
  const data = Float32Array.from(rows.flat());
  const feeds = { [session.inputNames[0]]: new ort.Tensor('float32', data, [rows.length, rows[0].length]) };
  return { session, feeds };
}

if (!isMainThread) {
  // a worker: run until the deadline, report the count
  const { modelPath, rows, untilMs } = workerData;
  const { session, feeds } = await openSession(modelPath, rows);
  parentPort.postMessage({ ready: true });
  await new Promise((resolve) => parentPort.once('message', resolve));
  let calls = 0;
  const started = performance.now();
  const stopAt = started + untilMs;
  while (performance.now() < stopAt) {
    await session.run(feeds);
    calls++;
  }
  parentPort.postMessage({ calls, ms: performance.now() - started });
} else {
  const { values } = parseArgs({
    options: {
      model: { type: 'string' },
      body: { type: 'string' },
      threads: { type: 'string', default: '2' },
      seconds: { type: 'string', default: '5' },
    },
  });
  const bodyText = readFileSync(values.body, 'utf8');
  const rows = JSON.parse(bodyText).inputs;
  const seconds = Number(values.seconds);
  const threads = Number(values.threads);

  // 1. latency, one session, sequential
  const { session, feeds } = await openSession(values.model, rows);
  for (let i = 0; i < 20; i++) await session.run(feeds);
  const lat = [];
  const latUntil = performance.now() + (seconds * 1000) / 2;
  while (performance.now() < latUntil) {
    const t = performance.now();
    await session.run(feeds);
    lat.push(performance.now() - t);
  }
  await session.release();
  lat.sort((a, b) => a - b);
  const pick = (p) => lat[Math.min(lat.length - 1, Math.ceil((p / 100) * lat.length) - 1)];

  // 2. throughput, THREADS sessions in worker threads
  const workers = Array.from(
    { length: threads },
    () =>
      new Worker(new URL(import.meta.url), { workerData: { modelPath: values.model, rows, untilMs: seconds * 1000 } }),
  );
  await Promise.all(workers.map((w) => new Promise((resolve) => w.once('message', resolve))));
  const results = await Promise.all(
    workers.map((w) => {
      const done = new Promise((resolve) => w.once('message', resolve));
      w.postMessage('go');
      return done;
    }),
  );
  await Promise.all(workers.map((w) => w.terminate()));

  // 3. the JSON floor: parsing the body alone
  const parses = [];
  const parseUntil = performance.now() + (seconds * 1000) / 4;
  while (performance.now() < parseUntil) {
    const t = performance.now();
    JSON.parse(bodyText);
    parses.push(performance.now() - t);
  }
  parses.sort((a, b) => a - b);
  const callsPerSecond = results.reduce((s, r) => s + (r.calls * 1000) / r.ms, 0);
  console.log(
    JSON.stringify({
      batch: rows.length,
      threads,
      seconds,
      single_thread: {
        calls: lat.length,
        mean_ms: lat.reduce((s, x) => s + x, 0) / lat.length,
        p50_ms: pick(50),
        p99_ms: pick(99),
      },
      calls_per_second: callsPerSecond,
      json_parse: {
        body_bytes: Buffer.byteLength(bodyText),
        parses: parses.length,
        p50_ms: parses[Math.floor(parses.length / 2)],
      },
    }),
  );
}
