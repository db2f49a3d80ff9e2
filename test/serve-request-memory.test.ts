import { afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

/**
 * Memory per request stays proportional to the body (issue 14): a 95 MB body of one-value rows cost 3.1 GB of
 * resident memory, since every JSON array and number became a JavaScript object before anything was checked.
 * Requests with more values than SERVE_MAX_REQUEST_VALUES are refused before they are parsed, on every protocol.
 */
const BODY_BYTES = 32 * 1024 * 1024;
/** peak resident growth allowed per request, as a multiple of its body (the HTTP layer buffers it, then joins it) */
const GROWTH_PER_BODY_BYTE = 4;

/** `prefix` + `unit,unit,…,unit` + `suffix`, about BODY_BYTES long */
function bodyOf(prefix: string, unit: string, separator: string, suffix: string): string {
  const count = Math.floor((BODY_BYTES - prefix.length - suffix.length) / (unit.length + separator.length));
  return prefix + `${unit}${separator}`.repeat(count - 1) + unit + suffix;
}

/** The process's peak resident set (VmHWM) since {@link resetPeakRss}, in bytes. */
function peakRss(proc: ModelctlProcess): number {
  const status = readFileSync(`/proc/${proc.child.pid}/status`, 'utf8');
  return Number(/^VmHWM:\s+(\d+) kB$/m.exec(status)![1]) * 1024;
}

/**
 * Resets the process's peak resident set to its current one (proc(5): clear_refs, "5") and returns that, in
 * bytes: each request is measured from where the one before left the process.
 */
function resetPeakRss(proc: ModelctlProcess): number {
  writeFileSync(`/proc/${proc.child.pid}/clear_refs`, '5');
  return peakRss(proc);
}

const cases: { name: string; route: string; type: string; body: () => string; error: string }[] = [
  {
    name: 'MLflow /invocations, JSON',
    route: '/invocations',
    type: 'application/json',
    body: () => bodyOf('{"inputs": [', '[0]', ',', ']}'),
    error: 'message',
  },
  {
    name: 'MLflow /invocations, CSV',
    route: '/invocations',
    type: 'text/csv',
    body: () => bodyOf('a,b,c,d\n', '0,0,0,0', '\n', '\n'),
    error: 'message',
  },
  {
    name: 'KServe v1',
    route: '/v1/models/model:predict',
    type: 'application/json',
    body: () => bodyOf('{"instances": [', '[0]', ',', ']}'),
    error: 'error',
  },
  {
    name: 'Open Inference Protocol v2',
    route: '/v2/models/model/infer',
    type: 'application/json',
    body: () => bodyOf('{"inputs": [{"name": "X", "shape": [1, 4], "datatype": "FP32", "data": [', '[0]', ',', ']}]}'),
    error: 'error',
  },
];

describe('modelctl serve bounds the memory of a request by its body', () => {
  // a server of its own per request: a heap that an earlier request grew would hide this one's growth
  let serve: ModelctlProcess;
  beforeEach(async () => {
    serve = await startModelctlServe({
      MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris'),
      MODEL_NAME: 'model',
      SERVE_MAX_CONCURRENCY: '1',
    });
  });
  afterEach(async () => {
    await serve.stop();
  });

  it.each(cases)('$name: 413 naming the limit, peak memory within a few bodies, then serves on', async (c) => {
    const body = c.body();
    const before = resetPeakRss(serve);
    const res = await fetch(`${serve.url}${c.route}`, { method: 'POST', headers: { 'content-type': c.type }, body });
    const answer = (await res.json()) as Record<string, unknown>;
    const growth = peakRss(serve) - before;
    const allowance = GROWTH_PER_BODY_BYTE * body.length;
    // one expectation, so a failure shows the status, the message and the memory together
    expect({
      status: res.status,
      message: answer[c.error],
      peak:
        growth <= allowance
          ? 'within the allowance'
          : `${Math.round(growth / 2 ** 20)} MB over the resident set before the request, allowed ${Math.round(allowance / 2 ** 20)} MB`,
    }).toEqual({
      status: 413,
      message: expect.stringMatching(/more than 5000000 values.*SERVE_MAX_REQUEST_VALUES/),
      peak: 'within the allowance',
    });
    const ok = await fetch(`${serve.url}/invocations`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ inputs: [[5.1, 3.5, 1.4, 0.2]] }),
    });
    expect(ok.status).toBe(200);
  });
});
