import type { Logger } from '../../shared/log/create-logger.js';
import { formatBytes } from '../../shared/disk/format-bytes.js';

/** Counts downloaded bytes and shows them: a bar on a terminal, periodic JSON lines in a pod. */
export interface Progress {
  start(totalBytes: number, files: number): void;
  add(delta: number): void;
  finish(): void;
}

/**
 * Picks the reporter. Written by hand: a bar is 20 lines, and libraries (cli-progress) write to stdout,
 * assume a TTY and know nothing of our JSON log lines.
 */
export function createProgress(params: {
  mode: 'auto' | 'bar' | 'json' | 'none';
  log: Logger;
  /** where the bar goes @default process.stderr */
  stream?: NodeJS.WriteStream;
  /** seconds between JSON lines */
  intervalSeconds: number;
}): Progress {
  const stream = params.stream ?? process.stderr;
  const mode = params.mode === 'auto' ? (stream.isTTY ? 'bar' : 'json') : params.mode;
  if (mode === 'none') return { start: () => undefined, add: () => undefined, finish: () => undefined };
  return mode === 'bar' ? barProgress(stream) : jsonProgress(params.log, params.intervalSeconds * 1000);
}

function counter(): { done: number; total: number; files: number; startedAt: number; rate: () => number } {
  const state = {
    done: 0,
    total: 0,
    files: 0,
    startedAt: Date.now(),
    rate: () => state.done / Math.max(0.001, (Date.now() - state.startedAt) / 1000),
  };
  return state;
}

function jsonProgress(log: Logger, intervalMs: number): Progress {
  const s = counter();
  let timer: NodeJS.Timeout | undefined;
  const emit = (): void => {
    const percent = s.total > 0 ? Math.round((s.done / s.total) * 1000) / 10 : null;
    log.info(
      { bytes: s.done, totalBytes: s.total, files: s.files, percent, bytesPerSecond: Math.round(s.rate()) },
      'fetch progress',
    );
  };
  return {
    start(total, files) {
      Object.assign(s, { total, files, startedAt: Date.now(), done: 0 });
      timer = setInterval(emit, intervalMs);
      timer.unref();
    },
    add: (delta) => void (s.done += delta),
    finish() {
      clearInterval(timer);
      emit();
    },
  };
}

function barProgress(stream: NodeJS.WriteStream): Progress {
  const s = counter();
  let timer: NodeJS.Timeout | undefined;
  const draw = (): void => {
    const ratio = s.total > 0 ? Math.min(1, s.done / s.total) : 0;
    const width = 30;
    const filled = Math.round(ratio * width);
    const bar = `${'█'.repeat(filled)}${'░'.repeat(width - filled)}`;
    stream.write(
      `\r${bar} ${(ratio * 100).toFixed(1)}% ${formatBytes(s.done)}/${formatBytes(s.total)} ${formatBytes(s.rate())}/s  `,
    );
  };
  return {
    start(total, files) {
      Object.assign(s, { total, files, startedAt: Date.now(), done: 0 });
      timer = setInterval(draw, 200);
      timer.unref();
    },
    add: (delta) => void (s.done += delta),
    finish() {
      clearInterval(timer);
      draw();
      stream.write('\n');
    },
  };
}
