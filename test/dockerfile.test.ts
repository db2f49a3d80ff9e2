import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

/**
 * There is no Docker engine here, so the image is checked two ways:
 * 1. statically: the Dockerfile's stages, base images, user, entrypoint, production install and copies;
 * 2. by emulating its build: each stage's COPY instructions are replayed into a temp folder from the build
 *    context as .dockerignore filters it, and its `npm ci` / `npm run` / `rm -rf node_modules/…` steps are run
 *    for real, so a file the build or the entrypoint needs but the Dockerfile forgets (or .dockerignore drops)
 *    fails here. The emulated final stage then runs `modelctl --help`, renders a Service and loads
 *    onnxruntime-node's native library.
 */

const execFileAsync = promisify(execFile);
const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const nodeBin = path.dirname(process.execPath);

interface Instruction {
  keyword: string;
  args: string;
}
interface Stage {
  base: string;
  name: string;
  instructions: Instruction[];
}

/** Dockerfile → stages: joins `\` continuations, drops comments and parser directives. */
function parseDockerfile(text: string): Stage[] {
  const logical = text
    .replace(/\\\r?\n/g, ' ')
    .split(/\r?\n/)
    .map((line) => line.trim())
    .filter((line) => line !== '' && !line.startsWith('#'));
  const stages: Stage[] = [];
  for (const line of logical) {
    const [keyword = '', ...rest] = line.split(/\s+/);
    const args = rest.join(' ');
    if (keyword.toUpperCase() === 'FROM') {
      const m = /^(\S+)(?:\s+AS\s+(\S+))?$/i.exec(args);
      stages.push({ base: m?.[1] ?? args, name: m?.[2] ?? String(stages.length), instructions: [] });
    } else {
      stages.at(-1)?.instructions.push({ keyword: keyword.toUpperCase(), args });
    }
  }
  return stages;
}

/** `COPY [--from=x] [--chmod=..] src... dest` → its parts (JSON form too). */
function parseCopy(args: string): { from: string | null; sources: string[]; dest: string } {
  const words = args.startsWith('[') ? (JSON.parse(args) as string[]) : args.split(/\s+/);
  const flags = words.filter((w) => w.startsWith('--'));
  const paths = words.filter((w) => !w.startsWith('--'));
  const from = flags.find((f) => f.startsWith('--from='))?.slice('--from='.length) ?? null;
  return { from, sources: paths.slice(0, -1), dest: paths.at(-1)! };
}

/** .dockerignore as Docker reads it: last matching pattern wins, `!` re-includes, a parent's match counts. */
function dockerIgnore(text: string): (relPath: string) => boolean {
  const rules = text
    .split(/\r?\n/)
    .map((l) => l.trim())
    .filter((l) => l !== '' && !l.startsWith('#'))
    .map((l) => {
      const negate = l.startsWith('!');
      const pattern = path.posix.normalize((negate ? l.slice(1) : l).replace(/^\/+/, ''));
      return { negate, regex: globToRegex(pattern) };
    });
  return (relPath: string) => {
    const parts = relPath.split('/');
    let excluded = false;
    for (const rule of rules) {
      const hit = parts.some((_, i) => rule.regex.test(parts.slice(0, i + 1).join('/')));
      if (hit) excluded = !rule.negate;
    }
    return excluded;
  };
}

function globToRegex(pattern: string): RegExp {
  let re = '';
  for (let i = 0; i < pattern.length; i++) {
    const c = pattern[i]!;
    if (c === '*' && pattern[i + 1] === '*') {
      re += pattern[i + 2] === '/' ? '(?:.*/)?' : '.*';
      i += pattern[i + 2] === '/' ? 2 : 1;
    } else if (c === '*') re += '[^/]*';
    else if (c === '?') re += '[^/]';
    else re += c.replace(/[.+^${}()|[\]\\]/g, '\\$&');
  }
  return new RegExp(`^${re}$`);
}

const dockerfile = readFileSync(path.join(repoRoot, 'Dockerfile'), 'utf8');
const stages = parseDockerfile(dockerfile);
const finalStage = stages.at(-1)!;
const isIgnored = dockerIgnore(readFileSync(path.join(repoRoot, '.dockerignore'), 'utf8'));

function instructions(stage: Stage, keyword: string): string[] {
  return stage.instructions.filter((i) => i.keyword === keyword).map((i) => i.args);
}

describe('Dockerfile', () => {
  it('builds in at least two stages, all from node:24 slim', () => {
    expect(stages.length).toBeGreaterThanOrEqual(2);
    for (const stage of stages) expect(stage.base).toMatch(/^node:24(\.\d+){0,2}(-[a-z]+)?-slim$/);
  });

  it('installs production dependencies only for the image', () => {
    const runs = stages.flatMap((s) => instructions(s, 'RUN').map((run) => ({ stage: s.name, run })));
    const prodInstall = runs.find((r) => /npm ci\b[^&]*--omit=dev/.test(r.run));
    expect(prodInstall).toBeDefined();
    const copies = instructions(finalStage, 'COPY').map(parseCopy);
    expect(copies).toContainEqual(
      expect.objectContaining({ from: prodInstall!.stage, sources: ['/app/node_modules'] }),
    );
  });

  it('runs as a numeric non-root user, with modelctl as the entrypoint', () => {
    const user = instructions(finalStage, 'USER').at(-1);
    expect(user).toMatch(/^[1-9]\d*(:\d+)?$/);
    expect(JSON.parse(instructions(finalStage, 'ENTRYPOINT').at(-1)!)).toEqual(['modelctl']);
  });

  it('copies the compiled CLI, package.json and node_modules into the final stage', () => {
    const copied = instructions(finalStage, 'COPY').flatMap((args) => parseCopy(args).sources);
    expect(copied).toEqual(expect.arrayContaining(['/app/dist', 'package.json', '/app/node_modules']));
  });

  it('keeps every context file it copies out of .dockerignore, and keeps tests and secrets out', () => {
    const fromContext = stages.flatMap((s) =>
      instructions(s, 'COPY')
        .map(parseCopy)
        .filter((c) => c.from === null)
        .flatMap((c) => c.sources),
    );
    for (const source of fromContext)
      expect({ source, ignored: isIgnored(source) }).toEqual({ source, ignored: false });
    for (const needed of ['cli/main.ts', 'functions/deploy/render-service.ts', 'shared/k8s/apply-object.ts']) {
      expect({ needed, ignored: isIgnored(needed) }).toEqual({ needed, ignored: false });
    }
    for (const kept of [
      'node_modules/jest/package.json',
      'functions/deploy/render-service.test.ts',
      '.git/HEAD',
      'test/global-setup.ts',
      '.env',
    ]) {
      expect({ kept, ignored: isIgnored(kept) }).toEqual({ kept, ignored: true });
    }
  });
});

describe('the image, emulated without an engine', () => {
  let root: string;
  const stageRoot = (name: string): string => path.join(root, 'stages', name);

  beforeAll(async () => {
    root = mkdtempSync(path.join(tmpdir(), 'modelctl-image-'));
    for (const stage of stages) await emulateStage(stage);
  }, 900_000);

  /** Replays COPY and the npm / node_modules steps of RUN; other steps are checked by the static tests. */
  async function emulateStage(stage: Stage): Promise<void> {
    const fsRoot = stageRoot(stage.name);
    let workdir = '/';
    for (const { keyword, args } of stage.instructions) {
      if (keyword === 'WORKDIR') {
        workdir = path.posix.resolve(workdir, args);
        mkdirSync(path.join(fsRoot, workdir), { recursive: true });
      } else if (keyword === 'COPY') {
        copyInto(parseCopy(args), fsRoot, workdir);
      } else if (keyword === 'RUN') {
        await runSteps(args, path.join(fsRoot, workdir));
      }
    }
  }

  function copyInto(copy: ReturnType<typeof parseCopy>, fsRoot: string, workdir: string): void {
    const destDir = path.join(fsRoot, path.posix.resolve(workdir, copy.dest));
    for (const source of copy.sources) {
      const from = copy.from === null ? path.join(repoRoot, source) : path.join(stageRoot(copy.from), source);
      if (!existsSync(from)) throw new Error(`COPY ${source}: not in ${copy.from ?? 'the build context'}`);
      // a folder's contents go into dest; a file goes to dest, or into it when dest is a folder (`./`, several sources)
      const isDir = statSync(from).isDirectory();
      const intoDir = copy.dest.endsWith('/') || copy.sources.length > 1;
      const target = isDir || !intoDir ? destDir : path.join(destDir, path.basename(source));
      cpSync(from, target, {
        recursive: true,
        // the context as Docker sends it: .dockerignore applied (paths relative to the repo root)
        filter: (src) => copy.from !== null || !isIgnored(path.relative(repoRoot, src)),
      });
    }
  }

  async function runSteps(command: string, cwd: string): Promise<void> {
    for (const step of command.split('&&').map((s) => s.trim())) {
      // npm cache clean would empty the machine's shared npm cache; the rest (chmod, ln) is checked statically
      if (!/^(npm (ci|run)\b|rm -rf node_modules\/)/.test(step)) continue;
      await execFileAsync('bash', ['-c', step], {
        cwd,
        env: { ...process.env, PATH: `${nodeBin}:${process.env.PATH}`, npm_config_prefer_offline: 'true' },
        maxBuffer: 64 * 1024 * 1024,
        timeout: 600_000,
      }).catch((err: Error & { stdout?: string; stderr?: string }) => {
        const output = `${err.stdout ?? ''}${err.stderr ?? ''}`.split('\n').filter((l) => !l.startsWith('npm warn'));
        throw new Error(`RUN ${step} failed in ${cwd}:\n${output.join('\n')}`);
      });
    }
  }

  const app = (): string => path.join(stageRoot(finalStage.name), 'app');

  /** The file /usr/local/bin/modelctl links to (from the `ln -s` of the final stage), inside the emulated fs. */
  function entrypointTarget(): string {
    const link = instructions(finalStage, 'RUN')
      .map((run) => /ln -s (\S+) \/usr\/local\/bin\/modelctl\b/.exec(run)?.[1])
      .find(Boolean);
    expect(link).toBeDefined();
    return path.join(stageRoot(finalStage.name), link!);
  }

  it('puts the entrypoint on PATH as a link to the compiled CLI, which starts with a node shebang', () => {
    const target = entrypointTarget();
    expect(existsSync(target)).toBe(true);
    expect(readFileSync(target, 'utf8').split('\n')[0]).toBe('#!/usr/bin/env node');
  });

  it('answers `modelctl --help` from the production install alone', async () => {
    const { stdout } = await execFileAsync(process.execPath, [entrypointTarget(), '--help'], { cwd: app() });
    expect(stdout).toMatch(/Usage: modelctl/);
    expect(stdout).toMatch(/\bdeploy\b/);
    expect(stdout).toMatch(/\bserve\b/);
  });

  it('renders a model Service from the production install alone', async () => {
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        entrypointTarget(),
        'deploy',
        '--serve-name',
        'iris',
        '--model-uri',
        'models:/iris/1',
        '--mlflow-tracking-uri',
        'http://mlflow:5000',
        '--namespace',
        'ml',
        '--dry-run',
      ],
      { cwd: app() },
    );
    expect(stdout).toMatch(/^kind: Service$/m);
  });

  it('ships onnxruntime-node with its linux x64 native library, and no dev dependencies', async () => {
    const modules = path.join(app(), 'node_modules');
    const napi = readdirSync(path.join(modules, 'onnxruntime-node/bin')).find((d) => d.startsWith('napi-v'))!;
    const x64 = path.join(modules, 'onnxruntime-node/bin', napi, 'linux/x64');
    expect(readdirSync(x64)).toEqual(expect.arrayContaining(['libonnxruntime.so.1', 'onnxruntime_binding.node']));
    const { stdout } = await execFileAsync(
      process.execPath,
      [
        '--input-type=module',
        '-e',
        "const ort = await import('onnxruntime-node'); console.log(typeof ort.InferenceSession.create)",
      ],
      { cwd: app() },
    );
    expect(stdout.trim()).toBe('function');
    for (const dev of ['jest', 'typescript', '@swc/core', 'eslint'])
      expect({ dev, present: existsSync(path.join(modules, dev)) }).toEqual({ dev, present: false });
  });

  afterAll(() => {
    if (root && !process.env.MODELCTL_KEEP_PEERS) rmSync(root, { recursive: true, force: true });
  });
});
