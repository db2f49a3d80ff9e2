import { describe, expect, it } from '@jest/globals';
import { isConnectionError, isRetryableStatus, parseRetryAfter, withRetry, type RetryAttempt } from './with-retry.js';

class HttpStatusError extends Error {
  constructor(
    readonly status: number,
    readonly retryAfterMs?: number,
  ) {
    super(`status ${status}`);
  }
}
const retryOnStatus = (e: unknown): boolean => e instanceof HttpStatusError && isRetryableStatus(e.status);

/** Fails with the queued errors in order, then resolves 'ok'; records every sleep. */
function script(errors: unknown[]): { run: () => Promise<string>; calls: () => number } {
  let calls = 0;
  return {
    run: async () => {
      const e = errors[calls++];
      if (e !== undefined) throw e;
      return 'ok';
    },
    calls: () => calls,
  };
}

describe('withRetry', () => {
  it('retries a retryable failure and returns the later success', async () => {
    const s = script([new HttpStatusError(503), new HttpStatusError(429)]);
    const sleeps: number[] = [];
    const result = await withRetry({
      run: s.run,
      maxRetries: 3,
      baseDelayMs: 1000,
      isRetryable: retryOnStatus,
      random: () => 0.5,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(result).toBe('ok');
    expect(s.calls()).toBe(3);
    // full jitter: random * base * 2^attempt
    expect(sleeps).toEqual([500, 1000]);
  });

  it('fails at once on an error the predicate calls permanent', async () => {
    const s = script([new HttpStatusError(404)]);
    const sleeps: number[] = [];
    await expect(
      withRetry({
        run: s.run,
        maxRetries: 5,
        baseDelayMs: 10,
        isRetryable: retryOnStatus,
        sleep: async (ms) => void sleeps.push(ms),
      }),
    ).rejects.toMatchObject({ status: 404 });
    expect(s.calls()).toBe(1);
    expect(sleeps).toEqual([]);
  });

  it('gives up after maxRetries retries and throws the last error', async () => {
    const s = script([
      new HttpStatusError(500),
      new HttpStatusError(502),
      new HttpStatusError(504),
      new HttpStatusError(500),
    ]);
    await expect(
      withRetry({
        run: s.run,
        maxRetries: 2,
        baseDelayMs: 1,
        isRetryable: retryOnStatus,
        sleep: async () => undefined,
      }),
    ).rejects.toMatchObject({ status: 504 });
    expect(s.calls()).toBe(3);
  });

  it('waits at least the Retry-After the error carries', async () => {
    const s = script([new HttpStatusError(429, 7000)]);
    const seen: RetryAttempt[] = [];
    const sleeps: number[] = [];
    await withRetry({
      run: s.run,
      maxRetries: 1,
      baseDelayMs: 100,
      isRetryable: retryOnStatus,
      random: () => 0.99,
      sleep: async (ms) => void sleeps.push(ms),
      onRetry: (a) => seen.push(a),
    });
    expect(sleeps).toEqual([7000]);
    expect(seen[0]).toMatchObject({ retry: 1, maxRetries: 1, delayMs: 7000, fromRetryAfter: true });
  });

  it('does not wait for a Retry-After longer than maxDelayMs', async () => {
    const s = script([new HttpStatusError(429, 3_600_000)]);
    await expect(
      withRetry({
        run: s.run,
        maxRetries: 3,
        baseDelayMs: 100,
        maxDelayMs: 60_000,
        isRetryable: retryOnStatus,
        sleep: async () => undefined,
      }),
    ).rejects.toMatchObject({ status: 429 });
    expect(s.calls()).toBe(1);
  });

  it('caps the exponential ceiling at maxDelayMs', async () => {
    const errors = Array.from({ length: 6 }, () => new HttpStatusError(500));
    const sleeps: number[] = [];
    await withRetry({
      run: script(errors).run,
      maxRetries: 6,
      baseDelayMs: 1000,
      maxDelayMs: 5000,
      isRetryable: retryOnStatus,
      random: () => 1,
      sleep: async (ms) => void sleeps.push(ms),
    });
    expect(sleeps).toEqual([1000, 2000, 4000, 5000, 5000, 5000]);
  });

  it('retries connection errors by default, wrapped as fetch wraps them', async () => {
    const refused = new TypeError('fetch failed', {
      cause: Object.assign(new Error('connect'), { code: 'ECONNREFUSED' }),
    });
    const s = script([refused]);
    await expect(withRetry({ run: s.run, maxRetries: 1, baseDelayMs: 1, sleep: async () => undefined })).resolves.toBe(
      'ok',
    );
  });

  it('stops waiting when the signal aborts and rethrows the failure', async () => {
    const controller = new AbortController();
    const s = script([new HttpStatusError(503), new HttpStatusError(503)]);
    const pending = withRetry({
      run: s.run,
      maxRetries: 3,
      baseDelayMs: 60_000,
      random: () => 1,
      isRetryable: retryOnStatus,
      signal: controller.signal,
    });
    setTimeout(() => controller.abort(), 20);
    await expect(pending).rejects.toMatchObject({ status: 503 });
    expect(s.calls()).toBe(1);
  });
});

describe('isRetryableStatus', () => {
  it('retries 408, 429 and 5xx only', () => {
    expect([408, 429, 500, 502, 503, 504, 599].every(isRetryableStatus)).toBe(true);
    expect([200, 301, 400, 401, 403, 404, 409, 413].some(isRetryableStatus)).toBe(false);
  });
});

describe('isConnectionError', () => {
  it('finds a socket error code in the cause chain', () => {
    expect(isConnectionError(new Error('x', { cause: { code: 'UND_ERR_SOCKET' } }))).toBe(true);
    expect(isConnectionError(new Error('x', { cause: { code: 'ENOENT' } }))).toBe(false);
    expect(isConnectionError('ECONNRESET')).toBe(false);
  });
});

describe('parseRetryAfter', () => {
  it('reads delay-seconds and HTTP-dates', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('12', now)).toBe(12_000);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 00:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeNull();
    expect(parseRetryAfter(null, now)).toBeNull();
  });
});
