import { afterEach, beforeEach, describe, expect, it, jest } from '@jest/globals';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import PeerLogReporter from './peer-log-reporter.js';
import { PEERS_FILE_ENV } from '../testkit/peers/peer-run.js';

describe('PeerLogReporter', () => {
  let dir: string;
  let printed: string;
  const savedPeersFile = process.env[PEERS_FILE_ENV];

  beforeEach(async () => {
    dir = await mkdtemp(path.join(tmpdir(), 'peer-log-reporter-'));
    const lines = Array.from({ length: 100 }, (_, i) => `mlflow line ${i + 1}`).join('\n');
    await writeFile(path.join(dir, 'mlflow.log'), lines);
    await writeFile(path.join(dir, 'mlflow-serve-1234.log'), 'serve said hello');
    await writeFile(
      path.join(dir, 'peers.json'),
      JSON.stringify({ runDir: dir, logs: { mlflow: path.join(dir, 'mlflow.log') } }),
    );
    process.env[PEERS_FILE_ENV] = path.join(dir, 'peers.json');
    printed = '';
    jest.spyOn(process.stderr, 'write').mockImplementation((chunk: string | Uint8Array) => {
      printed += String(chunk);
      return true;
    });
  });

  afterEach(async () => {
    jest.restoreAllMocks();
    if (savedPeersFile === undefined) Reflect.deleteProperty(process.env, PEERS_FILE_ENV);
    else process.env[PEERS_FILE_ENV] = savedPeersFile;
    await rm(dir, { recursive: true, force: true });
  });

  it('prints the last 40 lines of each published log and of logs started on demand when a file fails', () => {
    new PeerLogReporter({}).onTestResult({}, { numFailingTests: 1, testFilePath: '/x/fetch.test.ts' });
    expect(printed).toContain('fetch.test.ts');
    expect(printed).toContain('mlflow line 100');
    expect(printed).toContain('mlflow line 61');
    expect(printed).not.toContain('mlflow line 60\n');
    expect(printed).toContain('serve said hello');
  });

  it('prints logs when the test file could not even run', () => {
    new PeerLogReporter({}).onTestResult({}, { numFailingTests: 0, testExecError: new Error('x'), testFilePath: 'a' });
    expect(printed).toContain('mlflow line 100');
  });

  it('stays quiet when every test passed', () => {
    new PeerLogReporter({}).onTestResult({}, { numFailingTests: 0, testFilePath: '/x/fetch.test.ts' });
    expect(printed).toBe('');
  });
});
