import { describe, expect, it } from '@jest/globals';
import { EventEmitter } from 'node:events';
import { Writable } from 'node:stream';
import { createLogger } from '../log/create-logger.js';
import { firstSignal } from './first-signal.js';
import { exitOnSignals, exitWithError } from './role-process.js';

function fakeProcess(): { proc: NodeJS.Process; stderr: () => string; exits: number[] } {
  let err = '';
  const exits: number[] = [];
  const proc = Object.assign(new EventEmitter(), {
    stderr: { write: (s: string) => (err += s) },
    exit: (code: number) => {
      exits.push(code);
      return undefined as never;
    },
  }) as unknown as NodeJS.Process;
  return { proc, stderr: () => err, exits };
}

const quiet = createLogger({ name: 't', destination: new Writable({ write: (_c, _e, done) => done() }) });

describe('exitWithError', () => {
  it('prints one prefixed line per line of the message, scrubbed of credentials, and exits 1', () => {
    const fake = fakeProcess();
    exitWithError(
      'warm',
      new Error('PORT: expected a number\nHF_ENDPOINT: https://u:secret@hub is invalid'),
      fake.proc,
    );
    expect(fake.stderr()).toBe(
      'modelctl warm: PORT: expected a number\nmodelctl warm: HF_ENDPOINT: https://[REDACTED]@hub is invalid\n',
    );
    expect(fake.exits).toEqual([1]);
  });
});

describe('exitOnSignals', () => {
  it('drains once on SIGTERM, then exits 0', async () => {
    const fake = fakeProcess();
    let closes = 0;
    exitOnSignals({ close: async () => void closes++, log: quiet, proc: fake.proc });
    fake.proc.emit('SIGTERM');
    fake.proc.emit('SIGTERM');
    await new Promise((r) => setImmediate(r));
    expect(closes).toBe(1);
    expect(fake.exits).toEqual([0]);
  });

  it('drains a signal received before it was called, when the role listened first (firstSignal)', async () => {
    const fake = fakeProcess();
    const signal = firstSignal(fake.proc);
    fake.proc.emit('SIGINT');
    await new Promise((r) => setImmediate(r));
    let closes = 0;
    exitOnSignals({ close: async () => void closes++, log: quiet, proc: fake.proc, signal });
    await new Promise((r) => setImmediate(r));
    expect(closes).toBe(1);
    expect(fake.exits).toEqual([0]);
  });
});
