import { availableParallelism } from 'node:os';
import { withoutEmpty } from '../../shared/config/parse-env.js';
import { guessOnnxPath, guessSessionOptions, type SessionGuess } from './early-session.js';

/** SERVE_MAX_CONCURRENCY's largest value and SERVE_MAX_QUEUE's default, here and in ServeEnv (serve-env.ts). */
export const MAX_THREADS = 256;
export const DEFAULT_MAX_QUEUE = 1024;

/** The inference pool's size and queue, as serve's settings (serve-env.ts) will read them. */
export interface EarlyThreadSettings {
  threads: number;
  maxQueue: number;
  /**
   * the session the first thread begins before the settings come: MODEL_LOCAL_PATH's model.onnx with the default
   * session options (SERVE_INTRA_OP_THREADS); null without MODEL_LOCAL_PATH (or with a value ServeEnv refuses)
   */
  guess: SessionGuess | null;
}

/**
 * The inference pool's settings read from the environment before zod and serve's schema are loaded, so the first
 * inference thread starts first thing (cold start, issue 16: its start waited ~40 ms for zod, the schema and its
 * parse). The same values as ServeEnv's SERVE_MAX_CONCURRENCY (default the cores), SERVE_MAX_QUEUE (default DEFAULT_MAX_QUEUE)
 * and SERVE_RUNTIME, an empty variable counting as unset (parseEnv).
 * @returns null when the threads wait for the parsed settings: SERVE_RUNTIME=pyfunc (no threads), or a value the
 * schema refuses (serve then exits with ServeEnv's message)
 */
export function earlyThreadSettings(env: Record<string, string | undefined>): EarlyThreadSettings | null {
  const set = withoutEmpty(env);
  if (set.SERVE_RUNTIME === 'pyfunc') return null;
  const threads = integerOr(set.SERVE_MAX_CONCURRENCY, availableParallelism());
  const maxQueue = integerOr(set.SERVE_MAX_QUEUE, DEFAULT_MAX_QUEUE);
  if (threads === null || threads < 1 || threads > MAX_THREADS || maxQueue === null || maxQueue < 0) return null;
  const intraOp = integerOr(set.SERVE_INTRA_OP_THREADS, 1);
  const guess =
    set.MODEL_LOCAL_PATH !== undefined && intraOp !== null && intraOp >= 1
      ? { onnxPath: guessOnnxPath(set.MODEL_LOCAL_PATH), sessionOptions: guessSessionOptions(intraOp) }
      : null;
  return { threads, maxQueue, guess };
}

/** z.coerce.number().int(): Number() of the text, an integer; the default when unset. */
function integerOr(text: string | undefined, byDefault: number): number | null {
  if (text === undefined) return byDefault;
  const n = Number(text);
  return Number.isInteger(n) ? n : null;
}
