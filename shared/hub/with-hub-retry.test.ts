import { describe, expect, it } from '@jest/globals';
import { HubError } from './hub-error.js';
import { withHubRetry } from './with-hub-retry.js';

const unavailable = (): HubError =>
  new HubError({ code: 'HUB_UNAVAILABLE', message: 'busy', status: 503, permanent: false });

describe('withHubRetry', () => {
  it('retries a transient failure up to the policy maxRetries, then throws it', async () => {
    let calls = 0;
    const run = (): Promise<never> => {
      calls++;
      return Promise.reject(unavailable());
    };
    await expect(
      withHubRetry({ run, operation: 'download', policy: { maxRetries: 2, baseDelayMs: 1 } }),
    ).rejects.toMatchObject({ code: 'HUB_UNAVAILABLE' });
    expect(calls).toBe(3);
  });

  it('never retries a permanent failure', async () => {
    let calls = 0;
    const run = (): Promise<never> => {
      calls++;
      return Promise.reject(new HubError({ code: 'HUB_REPO_NOT_FOUND', message: 'no', status: 404, permanent: true }));
    };
    await expect(withHubRetry({ run, operation: 'resolve', policy: { baseDelayMs: 1 } })).rejects.toBeInstanceOf(
      HubError,
    );
    expect(calls).toBe(1);
  });

  it('takes the operation default when the policy leaves maxRetries out (resolve: 3)', async () => {
    let calls = 0;
    const run = (): Promise<string> => (++calls <= 3 ? Promise.reject(unavailable()) : Promise.resolve('ok'));
    await expect(withHubRetry({ run, operation: 'resolve', policy: { baseDelayMs: 1 } })).resolves.toBe('ok');
    expect(calls).toBe(4);
  });
});
