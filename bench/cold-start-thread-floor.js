#!/usr/bin/env node
// The floor of any server that runs inference off its main thread, as modelctl serve does: the bare script's work
// (bench/cold-start-bare.js: onnxruntime-node load, session, one run) on a worker thread the process starts first
// thing, which posts the run's output names back; the main thread prints them. No HTTP, no settings, no piscina.
// usage: node bench/cold-start-thread-floor.js <model dir>
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
  const { loadAndRunOnce } = await import('./cold-start-bare.js');
  parentPort.postMessage(await loadAndRunOnce(workerData));
}
