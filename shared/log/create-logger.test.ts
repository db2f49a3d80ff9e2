import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { addSecretValues, createLogger, redactSecrets } from './create-logger.js';

function capture(): { lines: () => Record<string, unknown>[]; stream: Writable } {
  const chunks: string[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      chunks.push(chunk.toString());
      done();
    },
  });
  return {
    stream,
    lines: () =>
      chunks
        .join('')
        .trim()
        .split('\n')
        .map((l) => JSON.parse(l) as Record<string, unknown>),
  };
}

describe('createLogger', () => {
  it('censors secret keys wherever they sit in a logged object', () => {
    const out = capture();
    const log = createLogger({ name: 't', destination: out.stream });
    log.info(
      {
        password: 'p4ss',
        config: { hfToken: 'hf_abcdefghijklmnop', token: 't0k' },
        req: { headers: { authorization: 'Bearer x' } },
      },
      'm',
    );
    const text = JSON.stringify(out.lines());
    expect(text).not.toMatch(/p4ss|hf_abcdefghijklmnop|t0k|Bearer x/);
    expect(out.lines()[0]).toMatchObject({
      password: '[REDACTED]',
      config: { hfToken: '[REDACTED]', token: '[REDACTED]' },
    });
  });

  it('scrubs credentials from messages and errors', () => {
    const out = capture();
    const log = createLogger({ name: 't', destination: out.stream });
    log.error(
      { err: new Error('GET https://alice:s3cret@mlflow.example/api failed') },
      'fetch failed for https://bob:pw@host/x',
    );
    const text = JSON.stringify(out.lines());
    expect(text).not.toMatch(/s3cret|:pw@/);
    expect(text).toContain('https://[REDACTED]@mlflow.example/api');
  });

  it('scrubs a registered secret value from every field, whatever its shape', () => {
    addSecretValues(['zq-7Xv"9wk', 'ab']);
    const out = capture();
    const log = createLogger({ name: 't', destination: out.stream });
    log.warn({ echoed: { code: 'BAD_zq-7Xv"9wk' }, header: 'realm=zq-7Xv"9wk' }, 'server said zq-7Xv"9wk');
    const raw = JSON.stringify(out.lines());
    expect(raw).not.toContain('zq-7Xv');
    expect(out.lines()[0]).toMatchObject({ echoed: { code: 'BAD_[REDACTED]' }, msg: 'server said [REDACTED]' });
    expect(redactSecrets('token zq-7Xv"9wk, ab')).toBe('token [REDACTED], ab');
  });

  it('writes one JSON line with level, time, name and message', () => {
    const out = capture();
    createLogger({ name: 'serve', destination: out.stream }).info({ repo: 'a/b' }, 'snapshot ready');
    expect(out.lines()[0]).toMatchObject({
      level: 'info',
      name: 'serve',
      repo: 'a/b',
      msg: 'snapshot ready',
      time: expect.any(String),
    });
  });
});

describe('redactSecrets', () => {
  it('removes bearer and basic credentials and hf_ tokens', () => {
    expect(redactSecrets('Authorization: Bearer abc.def-ghi and Basic dXNlcjpwdw== and hf_1234567890abcdef')).toBe(
      'Authorization: Bearer [REDACTED] and Basic [REDACTED] and [REDACTED]',
    );
  });
});
