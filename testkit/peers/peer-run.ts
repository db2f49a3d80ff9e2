import { spawn, type ChildProcess } from 'node:child_process';
import { createWriteStream, readFileSync, writeFileSync, existsSync } from 'node:fs';
import { mkdtemp, rm } from 'node:fs/promises';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';

/** What global setup publishes to the tests: each peer adds its own section. */
export interface PeersInfo {
  runDir: string;
  /** peer name → its log file, printed (tail) when a test fails */
  logs: Record<string, string>;
  [peer: string]: unknown;
}

/** The env var pointing tests at the JSON file written by global setup. */
export const PEERS_FILE_ENV = 'MODELCTL_PEERS_FILE';

/** One test run's peers: processes started, their logs, their published coordinates. */
export class PeerRun {
  readonly runDir: string;
  readonly info: PeersInfo;
  private readonly children: { name: string; child: ChildProcess }[] = [];
  private readonly cleanups: (() => Promise<void>)[] = [];

  private constructor(runDir: string) {
    this.runDir = runDir;
    this.info = { runDir, logs: {} };
  }

  static async create(): Promise<PeerRun> {
    return new PeerRun(await mkdtemp(path.join(tmpdir(), 'modelctl-peers-')));
  }

  /** Path of a fresh log file for `name`, registered for failure reports. */
  logFile(name: string): string {
    const file = path.join(this.runDir, `${name}.log`);
    this.info.logs[name] = file;
    return file;
  }

  /**
   * Starts a peer process (its own process group, stdout+stderr to its log file) and waits for
   * `ready()` to resolve true, polling every 100 ms up to `timeoutMs`.
   * @throws naming the peer, with its log tail, when it exits early or never gets ready
   */
  async spawnPeer(params: {
    name: string;
    command: string;
    args: string[];
    env?: NodeJS.ProcessEnv;
    cwd?: string;
    ready: () => Promise<boolean>;
    /** @default 120000 */
    timeoutMs?: number;
  }): Promise<ChildProcess> {
    const log = createWriteStream(this.logFile(params.name), { flags: 'a' });
    const child = spawn(params.command, params.args, {
      env: params.env ?? process.env,
      cwd: params.cwd,
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout?.pipe(log);
    child.stderr?.pipe(log);
    this.children.push({ name: params.name, child });
    let exited: string | undefined;
    child.once('exit', (code, signal) => (exited = `exited with ${signal ?? code}`));
    child.once('error', (err) => (exited = `failed to start: ${err.message}`));
    const deadline = Date.now() + (params.timeoutMs ?? 120_000);
    while (Date.now() < deadline) {
      if (exited) break;
      if (await params.ready().catch(() => false)) return child;
      await new Promise((r) => setTimeout(r, 100));
    }
    const why = exited ?? `not ready after ${params.timeoutMs ?? 120_000} ms`;
    throw new Error(`peer ${params.name} ${why}\n${tail(this.info.logs[params.name]!)}`);
  }

  /** Registers work to undo at teardown (temp dirs, servers in this process). */
  onStop(cleanup: () => Promise<void>): void {
    this.cleanups.push(cleanup);
  }

  /** Publishes `info` for the tests (see {@link readPeers}). */
  publish(): string {
    const file = path.join(this.runDir, 'peers.json');
    writeFileSync(file, JSON.stringify(this.info, null, 2));
    process.env[PEERS_FILE_ENV] = file;
    return file;
  }

  /** Ends every peer by pid (process group: SIGTERM, then SIGKILL after 5 s) and removes the run dir. */
  async stopAll(): Promise<void> {
    await Promise.all(this.children.map(({ child }) => stopProcessGroup(child)));
    for (const cleanup of this.cleanups.reverse()) await cleanup().catch(() => undefined);
    if (!process.env.MODELCTL_KEEP_PEERS) await rm(this.runDir, { recursive: true, force: true });
  }
}

async function stopProcessGroup(child: ChildProcess): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null || child.pid === undefined) return;
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  killGroup(child.pid, 'SIGTERM');
  const timer = setTimeout(() => killGroup(child.pid!, 'SIGKILL'), 5000);
  await exited;
  clearTimeout(timer);
}

function killGroup(pid: number, signal: NodeJS.Signals): void {
  try {
    process.kill(-pid, signal);
  } catch {
    // already gone
  }
}

/** The last `lines` lines of a log file, for failure reports. */
export function tail(file: string, lines = 40): string {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}

/** Reads what global setup published. Throws if global setup did not run (a peer never skips silently). */
export function readPeers(): PeersInfo {
  const file = process.env[PEERS_FILE_ENV];
  if (!file) throw new Error(`${PEERS_FILE_ENV} is not set: run integration tests through jest.integration.config.js`);
  return JSON.parse(readFileSync(file, 'utf8')) as PeersInfo;
}

/** A free TCP port on 127.0.0.1. */
export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}
