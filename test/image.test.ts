import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import { execFile } from 'node:child_process';
import dgram from 'node:dgram';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { promisify } from 'node:util';
import { EXAMPLE_MODELS, REPO_ROOT, startModelctlServe } from '../testkit/modelctl-process.js';

/**
 * The image as the engine builds it: `make image` (scripts/ensure-docker.sh starts the engine, the base
 * node:24-slim is built locally, then `docker build` with BuildKit), and every role run in it with `docker run`.
 * Nothing here skips: without an engine, `make image` fails and so does every test.
 */

const execFileAsync = promisify(execFile);
const DOCKER = process.env.DOCKER ?? (existsSync('/usr/bin/docker') ? '/usr/bin/docker' : 'docker');
// the image `make image` builds: IMAGE when set (the Makefile and scripts/image/build-image.sh read it), else
// build-image.sh's default; taken from the build's own report line (beforeAll), not written here a second time
let IMAGE: string;
const IRIS = path.join(EXAMPLE_MODELS, 'iris');
// onnxruntime-node 1.30's telemetry (1DS) uploads here when it is on
const TELEMETRY_HOST = /events\.data\.microsoft\.com$/;

async function docker(args: string[], timeout = 60_000): Promise<string> {
  const { stdout } = await execFileAsync(DOCKER, args, { timeout, maxBuffer: 64 * 1024 * 1024 });
  return stdout.trim();
}

/** docker run, output and exit code whatever it is (stdout and stderr together). */
async function dockerRun(args: string[]): Promise<{ code: number; output: string }> {
  return execFileAsync(DOCKER, ['run', '--rm', ...args], { timeout: 60_000 }).then(
    ({ stdout, stderr }) => ({ code: 0, output: stdout + stderr }),
    (err: Error & { code?: number; stdout?: string; stderr?: string }) => ({
      code: typeof err.code === 'number' ? err.code : -1,
      output: `${err.stdout ?? ''}${err.stderr ?? ''}`,
    }),
  );
}

/** What a container wrote so far, stdout and stderr. */
async function dockerLogs(id: string): Promise<string> {
  const { stdout, stderr } = await execFileAsync(DOCKER, ['logs', id], { maxBuffer: 64 * 1024 * 1024 });
  return stdout + stderr;
}

const started: string[] = [];
/** docker run -d; the container is force-removed after the tests. */
async function startContainer(args: string[]): Promise<string> {
  const id = await docker(['run', '-d', ...args]);
  started.push(id);
  return id;
}

async function waitFor<T>(what: string, probe: () => Promise<T | undefined>, ms = 30_000): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The host's address on docker's default bridge (docker0): containers reach the test's servers there. */
async function hostAddressOnBridge(): Promise<string> {
  const name = await docker([
    'network',
    'inspect',
    'bridge',
    '--format',
    '{{index .Options "com.docker.network.bridge.name"}}',
  ]);
  // os.networkInterfaces() leaves out a bridge with no container attached (not RUNNING)
  const { stdout } = await execFileAsync('ip', ['-4', '-o', 'addr', 'show', 'dev', name]);
  const address = /\binet (\d+\.\d+\.\d+\.\d+)\//.exec(stdout)?.[1];
  if (!address) throw new Error(`no IPv4 address on docker's bridge ${name}`);
  return address;
}

let bridgeGateway: string;
let buildReport: string;
let scratch: string;

beforeAll(async () => {
  // warm when `make test-integration` (which depends on `make image`) ran it just before: seconds
  const { stderr } = await execFileAsync('make', ['--no-print-directory', 'image'], {
    cwd: REPO_ROOT,
    timeout: 1_800_000,
    maxBuffer: 256 * 1024 * 1024,
  });
  buildReport = /^image: \S+ built in .*/m.exec(stderr)?.[0] ?? '';
  IMAGE = /^image: (\S+)/.exec(buildReport)?.[1] ?? '';
  if (!IMAGE) throw new Error(`make image printed no "image: <name> built in" line:\n${stderr.slice(-2000)}`);
  bridgeGateway = await hostAddressOnBridge();
  scratch = mkdtempSync(path.join(tmpdir(), 'modelctl-image-test-'));
}, 1_800_000);

afterAll(async () => {
  if (started.length > 0) await docker(['rm', '-f', ...started]).catch(() => '');
  if (scratch) rmSync(scratch, { recursive: true, force: true });
});

describe('make image', () => {
  it('builds the image with the engine, labelled with its source, version, revision and licence', async () => {
    expect(buildReport).toMatch(/^image: \S+ built in [\d.]+ s, \d+ MB/);
    if (process.env.IMAGE) expect(IMAGE).toBe(process.env.IMAGE);
    process.stdout.write(`${buildReport}\n`);
    const labels = JSON.parse(
      await docker(['image', 'inspect', IMAGE, '--format', '{{json .Config.Labels}}']),
    ) as Record<string, string>;
    const { stdout: head } = await execFileAsync('git', ['rev-parse', 'HEAD'], { cwd: REPO_ROOT });
    const pkg = JSON.parse(readFileSync(path.join(REPO_ROOT, 'package.json'), 'utf8')) as { version: string };
    expect(labels).toMatchObject({
      'org.opencontainers.image.version': pkg.version,
      'org.opencontainers.image.revision': head.trim(),
      'org.opencontainers.image.licenses': 'Apache-2.0',
    });
    expect(labels['org.opencontainers.image.source']).toMatch(/^(https?|git|ssh|file):\/\/|^git@/);
    // the Knative tag (build-image.sh adds it to the modelctl:dev* names) points at the same image
    if (IMAGE.startsWith('modelctl:dev')) {
      expect(await docker(['image', 'inspect', `dev.local/${IMAGE}`, '--format', '{{.Id}}'])).toBe(
        await docker(['image', 'inspect', IMAGE, '--format', '{{.Id}}']),
      );
    }
  });

  it('ships onnxruntime for linux x64 only, no dev dependencies, types, source maps or build CA; runs as uid 1000', async () => {
    const { code, output } = await dockerRun([
      '--entrypoint',
      'sh',
      IMAGE,
      '-c',
      [
        'id -u',
        'ls -d /app/node_modules/onnxruntime-node/bin/napi-v*/*/*',
        'ls /app/node_modules/fs-ext-extra-prebuilt/binaries | sed "s/-node-.*//; s/-electron-.*//" | sort -u',
        'ls -d /app/node_modules/jest /app/node_modules/typescript /app/node_modules/esbuild /run/secrets 2>&1 || true',
        'grep -rl "BEGIN CERTIFICATE" /etc /root /home /run /usr/local/share 2>/dev/null || true',
        'find /app/node_modules -name "*.d.ts" -o -name "*.js.map" | head -n 3',
      ].join('; echo ---; '),
    ]);
    expect(code).toBe(0);
    const [uid, napi, fsExt, dev, certs, typesAndMaps] = output.split('---\n').map((s) => s.trim());
    expect(uid).toBe('1000');
    expect(napi!.split('\n')).toEqual(['/app/node_modules/onnxruntime-node/bin/napi-v6/linux/x64']);
    expect(fsExt!.split('\n')).toEqual(['fs-ext-linux-x64']);
    expect(dev!.split('\n')).toHaveLength(4);
    expect(dev).not.toMatch(/^\/app|^\/run\/secrets$/m);
    expect(certs).toBe('');
    expect(typesAndMaps).toBe('');
    const size = Number(await docker(['image', 'inspect', IMAGE, '--format', '{{.Size}}']));
    process.stdout.write(`image ${IMAGE}: ${(size / 1e6).toFixed(0)} MB\n`);
  });
});

describe('the roles in the image', () => {
  it('prints the help of every role, and deploy renders a Service from the production install', async () => {
    for (const role of ['serve', 'fetch', 'warm', 'cleanup', 'agent', 'deploy']) {
      const { code, output } = await dockerRun([IMAGE, role, '--help']);
      expect({ role, code, usage: output.split('\n')[0] }).toEqual({
        role,
        code: 0,
        usage: `Usage: modelctl ${role} [options]`,
      });
    }
    const rendered = await dockerRun([
      '--read-only',
      IMAGE,
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
    ]);
    expect(rendered.code).toBe(0);
    expect(rendered.output).toMatch(/^kind: Service$/m);
  });

  it('serves the bundled example read-only as uid 1000 and answers /invocations as the host build does', async () => {
    const id = await startContainer([
      '--read-only',
      '--tmpfs',
      '/tmp',
      '-p',
      '127.0.0.1::8080',
      '-v',
      `${IRIS}:/models/iris:ro`,
      '-e',
      'MODEL_LOCAL_PATH=/models/iris',
      IMAGE,
      'serve',
    ]);
    const url = `http://${await docker(['port', id, '8080/tcp'])}`;
    await waitFor('serve in the image to be ready', async () =>
      (await fetch(`${url}/health/readiness`).catch(() => undefined))?.ok ? true : undefined,
    );
    const body = readFileSync(path.join(IRIS, 'serving_input_example.json'), 'utf8');
    const ask = async (base: string): Promise<unknown> => {
      const res = await fetch(`${base}/invocations`, {
        method: 'POST',
        headers: { 'content-type': 'application/json' },
        body,
      });
      expect(res.status).toBe(200);
      return res.json();
    };
    const inImage = await ask(url);
    // the example's classifier: one label and one row of probabilities per input row
    expect(inImage).toMatchObject({
      predictions: { label: [expect.any(Number), expect.any(Number), expect.any(Number)] },
    });
    const host = await startModelctlServe({ MODEL_LOCAL_PATH: IRIS });
    try {
      expect(inImage).toEqual(await ask(host.url));
    } finally {
      await host.stop();
    }
  });

  it('lets root with every capability dropped read the compile cache warmed for uid 0', async () => {
    for (const user of ['0', '1000']) {
      const { code, output } = await dockerRun([
        '--user',
        user,
        '--cap-drop',
        'ALL',
        '--read-only',
        '-e',
        'NODE_DEBUG_NATIVE=COMPILE_CACHE',
        IMAGE,
        '--version',
      ]);
      expect({ user, code }).toEqual({ user, code: 0 });
      const accepted = output.split('\n').filter((l) => /V8 code cache for .* was accepted/.test(l));
      // the CLI's entry and its main chunk at least come from the image's cache
      expect({ user, accepted: accepted.length >= 2 }).toEqual({ user, accepted: true });
      expect(output).not.toMatch(/reading cache from .*(fail|denied)/i);
      expect(output).not.toMatch(/was rejected/);
    }
  });
});

describe('PID 1 in the image', () => {
  /** A Kubernetes API server that accepts connections and never answers: the role waits on it. */
  async function startSilentApiServer(): Promise<{ port: number; connections: () => number; close: () => void }> {
    let count = 0;
    const sockets = new Set<net.Socket>();
    const server = net.createServer((socket) => {
      count++;
      sockets.add(socket);
      socket.on('error', () => undefined);
    });
    await new Promise<void>((resolve) => server.listen(0, bridgeGateway, resolve));
    const { port } = server.address() as net.AddressInfo;
    return {
      port,
      connections: () => count,
      close: () => {
        for (const s of sockets) s.destroy();
        server.close();
      },
    };
  }

  it('stops cleanup --once and deploy on SIGTERM at once (tini), where node alone as PID 1 ignores it', async () => {
    const api = await startSilentApiServer();
    try {
      const kubeconfig = path.join(scratch, 'kubeconfig');
      writeFileSync(
        kubeconfig,
        [
          'apiVersion: v1',
          'kind: Config',
          `clusters: [{name: silent, cluster: {server: "https://${bridgeGateway}:${api.port}", insecure-skip-tls-verify: true}}]`,
          'users: [{name: u, user: {token: t}}]',
          'contexts: [{name: c, context: {cluster: silent, user: u, namespace: ml}}]',
          'current-context: c',
        ].join('\n'),
      );
      const mounts = ['-v', `${kubeconfig}:/kube/config:ro`, '--tmpfs', '/model-cache'];
      const deploy = ['deploy', '--serve-name', 'iris', '--model-uri', 'models:/iris/1'];
      const roles: { name: string; args: string[] }[] = [
        {
          name: 'cleanup --once',
          args: [...mounts, IMAGE, 'cleanup', '--once', '--namespace', 'ml', '--kubeconfig', '/kube/config'],
        },
        {
          name: 'deploy',
          args: [
            ...mounts,
            IMAGE,
            ...deploy,
            '--mlflow-tracking-uri',
            'http://mlflow:5000',
            '--kubeconfig',
            '/kube/config',
          ],
        },
        // the control: the same deploy with node as PID 1 (no init) has no SIGTERM handler, and PID 1 ignores it
        {
          name: 'deploy without tini',
          args: [
            ...mounts,
            '--entrypoint',
            'modelctl',
            IMAGE,
            ...deploy,
            '--mlflow-tracking-uri',
            'http://mlflow:5000',
            '--kubeconfig',
            '/kube/config',
          ],
        },
      ];
      const results: Record<string, { exitCode: number; fast: boolean }> = {};
      for (const role of roles) {
        const before = api.connections();
        const id = await startContainer(role.args);
        // the role is waiting on the API server
        await waitFor(`${role.name} to call the API server`, async () => {
          if (api.connections() > before) return true;
          const state = await docker(['inspect', id, '--format', '{{.State.Status}}']);
          if (state === 'exited') throw new Error(`${role.name} exited:\n${await dockerLogs(id)}`);
          return undefined;
        });
        const t0 = Date.now();
        await docker(['stop', '--time', '5', id]);
        const ms = Date.now() - t0;
        const exitCode = Number(await docker(['inspect', id, '--format', '{{.State.ExitCode}}']));
        results[role.name] = { exitCode, fast: ms < 4_000 };
      }
      expect(results).toEqual({
        'cleanup --once': { exitCode: 143, fast: true },
        deploy: { exitCode: 143, fast: true },
        'deploy without tini': { exitCode: 137, fast: false },
      });
    } finally {
      api.close();
    }
  }, 120_000);
});

describe('onnxruntime telemetry in the image', () => {
  /** A DNS server on the bridge gateway that records every name asked and answers NXDOMAIN. */
  async function startDnsRecorder(): Promise<{ names: () => string[]; close: () => void }> {
    const names: string[] = [];
    const socket = dgram.createSocket('udp4');
    socket.on('message', (msg, from) => {
      const { name, end } = readQuestionName(msg);
      names.push(name);
      const reply = Buffer.from(msg.subarray(0, end + 4));
      reply.writeUInt16BE(0x8183, 2); // response, recursion desired + available, NXDOMAIN
      reply.writeUInt32BE(0, 6); // no answer or authority records
      reply.writeUInt16BE(0, 10);
      socket.send(reply, from.port, from.address);
    });
    await new Promise<void>((resolve, reject) => {
      socket.once('error', reject);
      socket.bind(53, bridgeGateway, resolve);
    });
    return { names: () => [...names], close: () => socket.close() };
  }

  /** The first question's name of a DNS query (RFC 1035 4.1.2; queries carry no compression). */
  function readQuestionName(msg: Buffer): { name: string; end: number } {
    const labels: string[] = [];
    let i = 12;
    while (i < msg.length && msg[i]! > 0) {
      labels.push(msg.subarray(i + 1, i + 1 + msg[i]!).toString('latin1'));
      i += msg[i]! + 1;
    }
    return { name: labels.join('.'), end: i + 1 };
  }

  /** Starts serve on the example with the host's CA bundle (so an HTTPS upload could go), until it is ready. */
  async function startServe(extraEnv: string[]): Promise<string> {
    const caBundle = process.env.SSL_CERT_FILE ?? '/etc/ssl/certs/ca-certificates.crt';
    expect({ caBundle, exists: existsSync(caBundle) }).toEqual({ caBundle, exists: true });
    const id = await startContainer([
      '--dns',
      bridgeGateway,
      '-v',
      `${caBundle}:/etc/ssl/certs/ca-certificates.crt:ro`,
      '-v',
      `${IRIS}:/models/iris:ro`,
      '-e',
      'MODEL_LOCAL_PATH=/models/iris',
      ...extraEnv,
      IMAGE,
      'serve',
    ]);
    await waitFor('serve to load the model', async () =>
      (await dockerLogs(id)).includes('"model ready"') ? true : undefined,
    );
    return id;
  }

  /** `docker diff` without the mount points of startServe. */
  async function changedFiles(id: string): Promise<string[]> {
    const diff = (await docker(['diff', id])).split('\n').filter(Boolean);
    return diff.filter(
      (l) => !/^[AC] \/(models|models\/iris|etc|etc\/ssl|etc\/ssl\/certs|etc\/ssl\/certs\/\S+)$/.test(l),
    );
  }

  it('serve resolves no telemetry host and writes nothing at start; with ORT_DISABLE_TELEMETRY unset it would', async () => {
    const dns = await startDnsRecorder();
    try {
      // the control proves both detectors: telemetry on, onnxruntime's own default
      const t0 = Date.now();
      const on = await startServe(['-e', 'ORT_DISABLE_TELEMETRY=0']);
      await waitFor(
        'the telemetry host lookup with telemetry on',
        async () => (dns.names().some((n) => TELEMETRY_HOST.test(n)) ? true : undefined),
        60_000,
      );
      const lookupMs = Date.now() - t0;
      expect(await changedFiles(on)).toEqual(expect.arrayContaining(['A /home/node/.cache']));
      await docker(['rm', '-f', on]);

      const before = dns.names().length;
      const off = await startServe([]);
      // as long again as the lookup took with telemetry on
      await new Promise((r) => setTimeout(r, lookupMs));
      expect(dns.names().slice(before)).toEqual([]);
      expect(await changedFiles(off)).toEqual([]);
      expect(await dockerLogs(off)).not.toMatch(/onnxruntime|telemetry/i);
    } finally {
      dns.close();
    }
  }, 180_000);
});
