import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';

/** mulberry32: a seeded PRNG, so a failing body can be reproduced from the seed. */
function prng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

const KEYS = [
  'inputs',
  'instances',
  'dataframe_split',
  'dataframe_records',
  'params',
  'columns',
  'data',
  'X',
  '',
  '__proto__',
  'constructor',
];
const CONTENT_TYPES = [
  'application/json',
  'text/csv',
  'application/json; charset=utf-8',
  'text/plain',
  'application/json; charset=utf-16',
  'multipart/form-data',
  '',
];
// no 503/504: 50 requests in flight stay far below the queue (SERVE_MAX_QUEUE 1024) and the 60 s request timeout,
// so from this idle, ready server either would be a fault
const ALLOWED = new Set([200, 400, 404, 413, 415]);

function randomValue(rand: () => number, depth: number): unknown {
  const pick = Math.floor(rand() * (depth > 4 ? 6 : 9));
  switch (pick) {
    case 0:
      return Math.floor(rand() * 10) - 3;
    case 1:
      return [1e308, -1e308, 1e-320, 0.1, Number.MAX_SAFE_INTEGER + 2, -0][Math.floor(rand() * 6)];
    case 2:
      return ['x', '', '1.5', 'NaN', '9'.repeat(30), '\u0000', '😀'][Math.floor(rand() * 7)];
    case 3:
      return rand() < 0.5;
    case 4:
      return null;
    case 5:
      return Array.from({ length: 4 }, () => rand() * 8);
    case 6:
      return Array.from({ length: Math.floor(rand() * 5) }, () => randomValue(rand, depth + 1));
    case 7:
      return Object.fromEntries(
        Array.from({ length: Math.floor(rand() * 4) }, () => [
          KEYS[Math.floor(rand() * KEYS.length)],
          randomValue(rand, depth + 1),
        ]),
      );
    default:
      return { [KEYS[Math.floor(rand() * 4)]!]: randomValue(rand, depth + 1) };
  }
}

function randomBody(rand: () => number): string {
  const kind = rand();
  if (kind < 0.6) return JSON.stringify(randomValue(rand, 0)) ?? 'null';
  if (kind < 0.7) return JSON.stringify({ inputs: randomValue(rand, 0) }).slice(0, Math.floor(rand() * 40)); // truncated
  if (kind < 0.8)
    return Array.from({ length: 1 + Math.floor(rand() * 4) }, () =>
      Array.from({ length: 4 }, () => String(randomValue(rand, 9))).join(','),
    ).join('\n');
  if (kind < 0.9)
    return Buffer.from(Array.from({ length: Math.floor(rand() * 64) }, () => Math.floor(rand() * 256))).toString(
      'latin1',
    );
  return '['.repeat(5000) + ']'.repeat(5000); // deep nesting
}

describe('modelctl serve fuzzing', () => {
  let server: ModelctlProcess;
  beforeAll(async () => {
    server = await startModelctlServe({ MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris') });
  });
  afterAll(async () => {
    expect(await server.stop()).toBe(0);
  });

  it('answers thousands of random and malformed bodies with defined statuses, and stays ready', async () => {
    const seed = Number(process.env.FUZZ_SEED ?? 20261124);
    const rand = prng(seed);
    const routes = ['/invocations', '/v2/models/iris/infer', '/v1/models/iris:predict'];
    const unexpected: string[] = [];
    let answered = 0;
    for (let batch = 0; batch < 60; batch++) {
      await Promise.all(
        Array.from({ length: 50 }, async () => {
          const route = routes[Math.floor(rand() * routes.length)]!;
          const type = CONTENT_TYPES[Math.floor(rand() * CONTENT_TYPES.length)]!;
          const body = randomBody(rand);
          const headers: Record<string, string> = type ? { 'Content-Type': type } : {};
          const res = await fetch(`${server.url}${route}`, { method: 'POST', headers, body });
          const text = await res.text();
          answered++;
          const jsonError = res.status >= 400 && res.status !== 415;
          if (!ALLOWED.has(res.status) || (jsonError && !isJson(text)))
            unexpected.push(`${res.status} ${route} ${type} ${body.slice(0, 80)} -> ${text.slice(0, 120)}`);
        }),
      );
    }
    expect({ seed, unexpected }).toEqual({ seed, unexpected: [] });
    expect(answered).toBe(3000);
    expect((await fetch(`${server.url}/health/readiness`)).status).toBe(200);
    expect(server.child.exitCode).toBeNull();
  });
});

function isJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}
