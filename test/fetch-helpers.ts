import { spawn, type ChildProcess } from 'node:child_process';
import { cp, mkdir, readFile, readdir, stat } from 'node:fs/promises';
import path from 'node:path';
import { readMlflowPeer, venvEnv } from '../testkit/peers/mlflow.js';
import { freePort, readPeers } from '../testkit/peers/peer-run.js';
import { runModelctl } from '../testkit/modelctl-process.js';

/** What one `modelctl fetch` process did. */
export interface FetchRun {
  code: number | string;
  output: string;
  /** the JSON log lines it printed */
  lines: Record<string, unknown>[];
}

/** Runs `./bin/modelctl fetch` with `env` (progress off unless asked) and waits for it. */
export async function runFetch(env: Record<string, string>): Promise<FetchRun> {
  const proc = runModelctl(['fetch'], { PROGRESS: 'none', ...env });
  const code = await proc.exited;
  return { code, output: proc.output(), lines: jsonLines(proc.output()) };
}

/** The JSON objects among `output`'s lines. */
export function jsonLines(output: string): Record<string, unknown>[] {
  return output
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l) as Record<string, unknown>);
}

/**
 * Every file under `dir` (following a symlinked root and symlinked files, as the Hugging Face snapshot layout
 * has them), relative, `/`-separated, sorted.
 */
export async function listFiles(dir: string): Promise<string[]> {
  const entries = await readdir(`${dir}/`, { recursive: true, withFileTypes: true });
  const files: string[] = [];
  for (const e of entries) {
    const full = path.join(e.parentPath, e.name);
    const isFile =
      e.isFile() ||
      (e.isSymbolicLink() &&
        (await stat(full).then(
          (s) => s.isFile(),
          () => false,
        )));
    if (isFile) files.push(path.relative(dir, full).split(path.sep).join('/'));
  }
  return files.sort();
}

/** True when every one of `files` reads the same bytes under `a` as under `b` (through any links). */
export async function readsSame(a: string, b: string, files: readonly string[]): Promise<boolean> {
  for (const f of files) {
    const [x, y] = await Promise.all([readFile(path.join(a, f)), readFile(path.join(b, f))]);
    if (!x.equals(y)) return false;
  }
  return true;
}

/** The names directly in OUTPUT_PATH: `model`, the links to its top-level files, and nothing hidden. */
export async function expectOnlyModelIn(out: string, expected: readonly string[]): Promise<void> {
  const topLevel = [...new Set(expected.map((f) => f.split('/')[0]!))];
  const names = (await readdir(out)).sort();
  if (JSON.stringify(names) !== JSON.stringify(['model', ...topLevel].sort())) {
    throw new Error(`OUTPUT_PATH holds ${JSON.stringify(names)}, expected model + ${JSON.stringify(topLevel)}`);
  }
}

/** True when both folders hold the same files with the same bytes. */
export async function sameFiles(a: string, b: string): Promise<boolean> {
  const [fa, fb] = await Promise.all([listFiles(a), listFiles(b)]);
  if (JSON.stringify(fa) !== JSON.stringify(fb)) return false;
  for (const f of fa) {
    const [x, y] = await Promise.all([readFile(path.join(a, f)), readFile(path.join(b, f))]);
    if (!x.equals(y)) return false;
  }
  return true;
}

/**
 * A tracking server of this test's own, on a copy of the plain MLflow peer's backend db and artifacts, so a
 * test may add files to a model, stop and restart it without disturbing other tests.
 */
export class OwnMlflow {
  private child: ChildProcess | undefined;
  private constructor(
    readonly dir: string,
    readonly port: number,
    private readonly python: string,
    private readonly logFile: string,
  ) {}

  get url(): string {
    return `http://127.0.0.1:${this.port}`;
  }

  /** Copies the plain peer's store into `dir` and starts a server on it. */
  static async start(dir: string): Promise<OwnMlflow> {
    const peers = readPeers();
    const plain = path.join(peers.runDir, 'mlflow', 'plain');
    await mkdir(dir, { recursive: true });
    await cp(path.join(plain, 'mlflow.db'), path.join(dir, 'mlflow.db'));
    await cp(path.join(plain, 'artifacts'), path.join(dir, 'artifacts'), { recursive: true });
    const own = new OwnMlflow(dir, await freePort(), readMlflowPeer().python, path.join(dir, 'server.log'));
    await own.restart();
    return own;
  }

  /** The on-disk folder of an artifact path (`1/models/m-…/artifacts`), to add files to a model. */
  artifactDir(artifactPath: string): string {
    return path.join(this.dir, 'artifacts', artifactPath);
  }

  /** How many GETs of the proxied artifact `artifactPath/file` the server's access log shows so far. */
  async countRequests(artifactFile: string): Promise<number> {
    const log = await readFile(this.logFile, 'utf8');
    return log.split('\n').filter((l) => l.includes(`"GET /api/2.0/mlflow-artifacts/artifacts/${artifactFile} `))
      .length;
  }

  /** Starts (again) on the same port, store and artifacts; resolves when /health answers. */
  async restart(): Promise<void> {
    const { createWriteStream } = await import('node:fs');
    const log = createWriteStream(this.logFile, { flags: 'a' });
    const args = [
      ...['server', '--backend-store-uri', `sqlite:///${path.join(this.dir, 'mlflow.db')}`],
      ...['--serve-artifacts', '--artifacts-destination', path.join(this.dir, 'artifacts')],
      ...['--host', '127.0.0.1', '--port', String(this.port), '--workers', '1'],
    ];
    const child = spawn(path.join(path.dirname(this.python), 'mlflow'), args, {
      cwd: this.dir,
      env: venvEnv(this.python),
      detached: true,
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    child.stdout.pipe(log);
    child.stderr.pipe(log);
    this.child = child;
    const deadline = Date.now() + 180_000;
    while (Date.now() < deadline) {
      if (child.exitCode !== null) throw new Error(`own mlflow exited ${child.exitCode}: see ${this.logFile}`);
      if (
        await fetch(`${this.url}/health`).then(
          (r) => r.ok,
          () => false,
        )
      )
        return;
      await new Promise((r) => setTimeout(r, 200));
    }
    throw new Error(`own mlflow not ready after 180 s: see ${this.logFile}`);
  }

  /** Kills the server's process group (SIGKILL: a crash, not a drain) and waits for it to exit. */
  async kill(): Promise<void> {
    const child = this.child;
    if (child?.pid === undefined || child.exitCode !== null || child.signalCode !== null) return;
    const exited = new Promise((r) => child.once('exit', r));
    try {
      process.kill(-child.pid, 'SIGKILL');
    } catch {
      // already gone
    }
    await exited;
  }
}
