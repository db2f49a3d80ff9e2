import { describe, expect, it } from '@jest/globals';
import { Writable } from 'node:stream';
import { createLogger } from '../../shared/log/create-logger.js';
import { createProgress } from './progress.js';

/** A stream that keeps what is written, posing as a terminal or not. */
function capture(isTTY: boolean): { stream: NodeJS.WriteStream; text: () => string } {
  let text = '';
  const stream = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as unknown as NodeJS.WriteStream;
  Object.assign(stream, { isTTY });
  return { stream, text: () => text };
}

describe('createProgress', () => {
  it('writes JSON progress lines when not on a terminal', () => {
    const logs = capture(false);
    const log = createLogger({ name: 'fetch', destination: logs.stream });
    const progress = createProgress({ mode: 'auto', log, stream: capture(false).stream, intervalSeconds: 60 });
    progress.start(1000, 2);
    progress.add(250);
    progress.add(250);
    progress.finish();
    const line = JSON.parse(logs.text().trim().split('\n').pop()!) as Record<string, unknown>;
    expect(line).toMatchObject({ msg: 'fetch progress', bytes: 500, totalBytes: 1000, files: 2, percent: 50 });
  });

  it('draws a bar on a terminal and ends its line', () => {
    const tty = capture(true);
    const logs = capture(false);
    const progress = createProgress({
      mode: 'auto',
      log: createLogger({ name: 'fetch', destination: logs.stream }),
      stream: tty.stream,
      intervalSeconds: 5,
    });
    progress.start(2048, 1);
    progress.add(1024);
    progress.finish();
    expect(tty.text()).toMatch(/\r█{15}░{15} 50\.0% 1\.0 KiB\/2\.0 KiB .*\n$/);
    expect(logs.text()).toBe('');
  });
});
