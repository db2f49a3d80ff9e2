import { describe, expect, it } from '@jest/globals';
import { setTimeout as delay } from 'node:timers/promises';
import { isAppError } from '../../shared/errors/app-error.js';
import { createRequestDeadlines } from './request-deadlines.js';

/** A promise and its settlers, to decide in the test when a request's work ends. */
function gate<T>() {
  let resolve!: (value: T) => void;
  let reject!: (err: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

describe('createRequestDeadlines', () => {
  it('answers what the work answers, and stops timing it', async () => {
    const deadlines = createRequestDeadlines({ ms: 1000 });
    await expect(deadlines.run(Promise.resolve(7))).resolves.toBe(7);
    await expect(deadlines.run(() => Promise.reject(new Error('refused')))).rejects.toThrow('refused');
    const throwing = (): Promise<never> => {
      throw new Error('thrown at once');
    };
    await expect(deadlines.run(throwing)).rejects.toThrow('thrown at once');
    expect(deadlines.pending()).toBe(0);
  });

  it('fails a request past its deadline with a 504 and aborts its signal; the others keep their own time', async () => {
    const deadlines = createRequestDeadlines({ ms: 300 });
    const slow = gate<string>();
    let signal: AbortSignal | undefined;
    const late = deadlines.run((s) => {
      signal = s;
      return slow.promise;
    });
    await delay(150);
    const second = gate<string>();
    const inTime = deadlines.run(second.promise);
    const err = await late.catch((e: unknown) => e);
    expect(isAppError(err) && [err.statusCode, err.code]).toEqual([504, 'DEADLINE_EXCEEDED']);
    expect(signal?.aborted).toBe(true);
    expect(signal?.reason).toBe(err);
    // the second, 150 ms younger, is still in time
    second.resolve('answered');
    await expect(inTime).resolves.toBe('answered');
    slow.resolve('too late'); // nobody reads it
    expect(deadlines.pending()).toBe(0);
  });

  it('expires many requests in arrival order, each once, while those that settled leave no trace', async () => {
    const deadlines = createRequestDeadlines({ ms: 30 });
    const outcomes: string[] = [];
    const runs = Array.from({ length: 50 }, (_, i) => {
      const work = i % 2 === 0 ? Promise.resolve(`ok ${i}`) : new Promise<string>(() => undefined);
      return deadlines.run(work).then(
        (v) => outcomes.push(v),
        () => outcomes.push(`late ${i}`),
      );
    });
    await Promise.all(runs);
    expect(outcomes.filter((o) => o.startsWith('ok'))).toHaveLength(25);
    expect(outcomes.filter((o) => o.startsWith('late'))).toEqual(
      Array.from({ length: 25 }, (_, i) => `late ${2 * i + 1}`),
    );
    expect(deadlines.pending()).toBe(0);
  });

  it('times requests that come after the timer went quiet', async () => {
    const deadlines = createRequestDeadlines({ ms: 15 });
    await expect(deadlines.run(new Promise(() => undefined))).rejects.toThrow('exceeded');
    await delay(30);
    const started = performance.now();
    await expect(deadlines.run(new Promise(() => undefined))).rejects.toThrow('exceeded');
    expect(performance.now() - started).toBeGreaterThanOrEqual(14);
  });
});
