import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { readFileSync } from 'node:fs';
import type { Logger } from '../../../shared/log/create-logger.js';
import { createFrameReader, encodeFrame, type Frame } from './frames.js';

/** What a worker reports once it has loaded the model (pyfunc_worker.py's `ready` frame). */
export interface PyfuncReady {
  pid: number;
  python: string;
  loadMs: number;
  flavors: string[];
  inputs: { name: string; datatype: string; shape: number[] }[];
  outputs: { name: string; datatype: string; shape: number[] }[];
  /** the saved serving input example's run: null without one */
  example: { ms: number } | { refused: { statusCode: number; code: string; message: string } } | null;
  /** requirements installed at another version than the model pins (let through unless SERVE_REQUIREMENTS=strict) */
  mismatched: string[];
  /** the model scores each row on its own, as far as its flavor and signature tell (SERVE_PYFUNC_BATCHING=auto) */
  rowwise: boolean;
}

/** A worker's answer to one request. */
export type PyfuncAnswer =
  | { ok: true; body: Buffer; header: Record<string, unknown> }
  | { ok: false; status: number; error_code: string; message: string };

/** One Python worker process: it loads the model once and answers one request at a time. */
export interface PyfuncProcess {
  pid: number;
  /** resolves once the model is loaded; rejects with the worker's one-line refusal (or how it died) */
  ready: Promise<PyfuncReady>;
  /** resolves when the process has exited, with its exit code or signal */
  exited: Promise<string>;
  /**
   * Sends one request; only one may be in flight.
   * @throws Error when the process dies before it answers
   */
  request: (header: Record<string, unknown>, body: Uint8Array) => Promise<PyfuncAnswer>;
  /** resident memory now, in bytes (0 once exited) */
  rss: () => number;
  /** closes its stdin (the worker exits when done); SIGKILL after `graceMs` */
  stop: (graceMs: number) => Promise<string>;
  kill: () => void;
}

/**
 * Starts `python pyfunc_worker.py <modelDir>`: requests go in on its stdin and answers come back on its stdout
 * as frames (frames.ts); its stderr (MLflow's warnings, the model's prints, tracebacks) goes to the log.
 */
export function startPyfuncProcess(params: {
  python: string;
  script: string;
  modelDir: string;
  env: NodeJS.ProcessEnv;
  log: Logger;
}): PyfuncProcess {
  const child: ChildProcessWithoutNullStreams = spawn(params.python, [params.script, params.modelDir], {
    env: params.env,
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  const log = params.log.child({ worker: child.pid });
  let pending: { resolve: (a: PyfuncAnswer) => void; reject: (e: Error) => void } | null = null;
  let settleReady: { resolve: (r: PyfuncReady) => void; reject: (e: Error) => void } | undefined;
  let fatal: string | null = null;
  const ready = new Promise<PyfuncReady>((resolve, reject) => (settleReady = { resolve, reject }));
  ready.catch(() => undefined);

  const onFrame = ({ header, body }: Frame): void => {
    if ('ready' in header) return settleReady?.resolve(header['ready'] as PyfuncReady);
    if ('fatal' in header) {
      fatal = String(header['fatal']);
      return settleReady?.reject(new Error(fatal));
    }
    const waiting = pending;
    pending = null;
    if (!waiting) return log.warn({ header }, 'pyfunc worker answered no request');
    // a batch frame's answer carries one status per request in its header
    if (header['status'] === 200 || 'batch' in header) waiting.resolve({ ok: true, body, header });
    else
      waiting.resolve({
        ok: false,
        status: Number(header['status']),
        error_code: String(header['error_code']),
        message: String(header['message']),
      });
  };
  const read = createFrameReader(onFrame);
  child.stdout.on('data', (chunk: Buffer) => {
    try {
      read(chunk);
    } catch (err) {
      log.error({ err }, 'pyfunc worker wrote a malformed frame; killing it');
      child.kill('SIGKILL');
    }
  });
  forwardLines(child.stderr, (line) => log.info({ stderr: line }, 'pyfunc worker'));
  child.stdin.on('error', () => undefined); // EPIPE after a crash: the exit handler reports it

  const exited = new Promise<string>((resolve) => {
    const done = (how: string) => {
      const died = new Error(fatal ?? `the pyfunc worker ${how}`);
      settleReady?.reject(died);
      pending?.reject(died);
      pending = null;
      resolve(how);
    };
    child.once('exit', (code, signal) => done(signal ? `was killed by ${signal}` : `exited with code ${code}`));
    child.once('error', (err) => done(`could not start ${params.python}: ${err.message}`));
  });

  return {
    pid: child.pid ?? -1,
    ready,
    exited,
    request: (header, body) => {
      if (pending) return Promise.reject(new Error('a pyfunc worker takes one request at a time'));
      if (child.exitCode !== null || child.signalCode !== null)
        return Promise.reject(new Error('the pyfunc worker has exited'));
      return new Promise<PyfuncAnswer>((resolve, reject) => {
        pending = { resolve, reject };
        // one writev for the frame's three chunks: one syscall and one wake-up of the worker instead of three
        child.stdin.cork();
        for (const chunk of encodeFrame(header, body)) child.stdin.write(chunk);
        child.stdin.uncork();
      });
    },
    rss: () => residentBytes(child.pid),
    stop: async (graceMs) => {
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), graceMs);
      const how = await exited;
      clearTimeout(timer);
      return how;
    },
    kill: () => {
      child.kill('SIGKILL');
    },
  };
}

function forwardLines(stream: NodeJS.ReadableStream, onLine: (line: string) => void): void {
  let rest = '';
  stream.setEncoding('utf8');
  stream.on('data', (text: string) => {
    const lines = (rest + text).split('\n');
    rest = lines.pop() ?? '';
    for (const line of lines) if (line.trim()) onLine(line);
  });
  stream.on('end', () => {
    if (rest.trim()) onLine(rest);
  });
}

/** VmRSS of a process from /proc (Linux), in bytes; 0 when it is gone. */
function residentBytes(pid: number | undefined): number {
  if (pid === undefined) return 0;
  try {
    const match = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return match ? Number(match[1]) * 1024 : 0;
  } catch {
    return 0;
  }
}
