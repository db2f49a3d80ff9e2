import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './peers/peer-run.js';

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
export const MODELCTL = path.join(REPO_ROOT, 'bin', 'modelctl');
export const EXAMPLE_MODELS = path.join(REPO_ROOT, 'examples', 'models');

export interface ModelctlProcess {
  child: ChildProcess;
  url: string;
  /** everything the process wrote so far */
  output: () => string;
  /** resolves with the exit code (or signal name) */
  exited: Promise<number | string>;
  stop: () => Promise<number | string>;
}

/** Runs `./bin/modelctl serve` (the built CLI) on a free loopback port and waits until it is ready. */
export async function startModelctlServe(
  env: Record<string, string>,
  opts: {
    waitReady?: boolean;
    /** @default 30000 */ readyTimeoutMs?: number;
    /** another launcher, or a built entry (`dist/bundle/modelctl.js`, bench runs) @default MODELCTL */ bin?: string;
  } = {},
): Promise<ModelctlProcess> {
  const port = await freePort();
  const proc = runModelctl(['serve'], { HOST: '127.0.0.1', PORT: String(port), LOG_LEVEL: 'warn', ...env }, opts.bin);
  const url = `http://127.0.0.1:${port}`;
  const handle = { ...proc, url };
  if (opts.waitReady === false) return handle;
  const readyTimeoutMs = opts.readyTimeoutMs ?? 30_000;
  const deadline = Date.now() + readyTimeoutMs;
  while (Date.now() < deadline) {
    const ready = await fetch(`${url}/health/readiness`).then(
      (r) => r.ok,
      () => false,
    );
    if (ready) return handle;
    const done = await Promise.race([proc.exited, new Promise((r) => setTimeout(() => r(undefined), 100))]);
    if (done !== undefined) throw new Error(`modelctl serve exited (${String(done)}):\n${proc.output()}`);
  }
  await proc.stop();
  throw new Error(`modelctl serve not ready after ${readyTimeoutMs / 1000} s:\n${proc.output()}`);
}

/**
 * Runs `./bin/modelctl <args>` (or `bin`) with `env` laid over the test's environment; a `bin` ending in `.js` (a
 * built entry) runs with this Node, as the image runs it (no bash launcher).
 */
export function runModelctl(
  args: string[],
  env: Record<string, string> = {},
  bin: string = MODELCTL,
): Omit<ModelctlProcess, 'url'> {
  const [command, argv] = bin.endsWith('.js') ? [process.execPath, [bin, ...args]] : [bin, args];
  const child = spawn(command, argv, { env: { ...process.env, ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<number | string>((resolve) =>
    child.once('exit', (code, signal) => resolve(code ?? signal ?? -1)),
  );
  const stop = async (): Promise<number | string> => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGTERM');
    const timer = setTimeout(() => child.kill('SIGKILL'), 10_000);
    const result = await exited;
    clearTimeout(timer);
    return result;
  };
  return { child, output: () => out, exited, stop };
}

/**
 * Resolves with the time (Date.now) the process writes the log line `msg`: on the stream's data event, not a poll,
 * to the ms.
 */
export function logLineSeen(server: Pick<ModelctlProcess, 'child'>, msg: string): Promise<number> {
  return new Promise((resolve) => {
    let out = '';
    const seen = (d: Buffer): void => {
      out += d.toString();
      if (!out.includes(`"msg":"${msg}"`)) return;
      server.child.stdout?.off('data', seen);
      resolve(Date.now());
    };
    server.child.stdout?.on('data', seen);
  });
}
