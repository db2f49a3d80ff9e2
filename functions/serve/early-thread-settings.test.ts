import { describe, expect, it } from '@jest/globals';
import { parseEnv } from '../../shared/config/parse-env.js';
import { earlyThreadSettings } from './early-thread-settings.js';
import { ServeEnv } from './serve-env.js';

/**
 * The first inference thread starts from earlyThreadSettings, before ServeEnv is loaded; serve keeps it only when
 * the parsed settings agree (else it closes it and starts another: correct, but the cold start's gain is lost).
 * Pinned here: the two read every value of these variables alike.
 */
const THREADS = [undefined, '', '1', '2', '3', '256', '0', '257', '-1', '2.5', 'abc', ' 4 ', '0x10', '1e1', 'Infinity'];
const QUEUES = [undefined, '', '0', '1', '1024', '-1', '1.5', 'many', '1e3'];
const RUNTIMES = [undefined, '', 'auto', 'onnx', 'pyfunc'];

describe('earlyThreadSettings', () => {
  it('reads SERVE_MAX_CONCURRENCY, SERVE_MAX_QUEUE and SERVE_RUNTIME as ServeEnv does', () => {
    const envs = THREADS.flatMap((threads) =>
      QUEUES.flatMap((queue) =>
        RUNTIMES.map((runtime) => ({ SERVE_MAX_CONCURRENCY: threads, SERVE_MAX_QUEUE: queue, SERVE_RUNTIME: runtime })),
      ),
    );
    let compared = 0;
    for (const env of envs) {
      const parsed = parsedOrNull({ MODEL_LOCAL_PATH: '/models/m', ...env });
      const expected =
        parsed === null || parsed.SERVE_RUNTIME === 'pyfunc'
          ? null
          : { threads: parsed.SERVE_MAX_CONCURRENCY, maxQueue: parsed.SERVE_MAX_QUEUE };
      expect([env, earlyThreadSettings(env)]).toEqual([env, expected]);
      if (expected !== null) compared++;
    }
    // both sides of the comparison are exercised: accepted values and refused ones
    expect(compared).toBeGreaterThan(50);
    expect(compared).toBeLessThan(envs.length);
  });
});

function parsedOrNull(env: Record<string, string | undefined>) {
  try {
    return parseEnv(ServeEnv, env);
  } catch {
    return null;
  }
}
