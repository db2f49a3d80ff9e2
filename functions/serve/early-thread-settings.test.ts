import { describe, expect, it } from '@jest/globals';
import { parseEnv } from '../../shared/config/parse-env.js';
import path from 'node:path';
import { earlyThreadSettings } from './early-thread-settings.js';
import { toSessionOptions } from './load-served-model.js';
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
      const withModel = { MODEL_LOCAL_PATH: '/models/m', ...env };
      const parsed = parsedOrNull(withModel);
      const expected =
        parsed === null || parsed.SERVE_RUNTIME === 'pyfunc'
          ? null
          : { threads: parsed.SERVE_MAX_CONCURRENCY, maxQueue: parsed.SERVE_MAX_QUEUE };
      const early = earlyThreadSettings(withModel);
      expect([env, early && { threads: early.threads, maxQueue: early.maxQueue }]).toEqual([env, expected]);
      if (expected !== null) compared++;
    }
    // both sides of the comparison are exercised: accepted values and refused ones
    expect(compared).toBeGreaterThan(50);
    expect(compared).toBeLessThan(envs.length);
  });

  it('guesses the session serve sets up for model.onnx in MODEL_LOCAL_PATH without onnx_session_options', () => {
    let guessed = 0;
    for (const intraOp of [undefined, '', '1', '2', '16', '0', '-1', '1.5', 'x']) {
      for (const dir of ['/models/m', 'relative/model/', '/models/m/../n']) {
        const env = { MODEL_LOCAL_PATH: dir, SERVE_INTRA_OP_THREADS: intraOp };
        const parsed = parsedOrNull(env);
        const guess = earlyThreadSettings(env)?.guess ?? null;
        if (parsed === null) continue;
        guessed += 1;
        // what loadServedModel hands the threads for such a model (readMlmodel: the folder's model.onnx)
        expect([env, guess]).toEqual([
          env,
          {
            onnxPath: path.resolve(parsed.modelDir, 'model.onnx'),
            sessionOptions: toSessionOptions({}, parsed.SERVE_INTRA_OP_THREADS),
          },
        ]);
      }
    }
    expect(guessed).toBe(5 * 3);
  });

  it('guesses nothing without MODEL_LOCAL_PATH', () => {
    expect(earlyThreadSettings({ MLFLOW_MODEL_URI: '/models/m' })?.guess).toBeNull();
    expect(earlyThreadSettings({ MODEL_LOCAL_PATH: '' })?.guess).toBeNull();
  });
});

function parsedOrNull(env: Record<string, string | undefined>) {
  try {
    return parseEnv(ServeEnv, env);
  } catch {
    return null;
  }
}
