import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { createWriteStream } from 'node:fs';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { freePort, readPeers, tail, type PeerRun } from './peer-run.js';

const here = path.dirname(fileURLToPath(import.meta.url));
const FIXTURE_SCRIPT = path.join(here, '..', 'fixtures', 'mlflow', 'make-models.py');

/** One MLflow model directory as the tracking server serves it (fixtures from make-models.py). */
export interface MlflowLoggedModel {
  /** MLflow 3 logged model id, `m-<hex>` */
  modelId: string;
  /** `models:/m-<hex>` */
  modelUri: string;
  runId: string;
  /** `mlflow-artifacts:/<exp>/models/m-<hex>/artifacts` */
  artifactUri: string;
  /** the same, as a path for `GET /api/2.0/mlflow-artifacts/artifacts/<artifactPath>/<file>` */
  artifactPath: string;
  /** every file of the model directory, relative, `/`-separated, sorted */
  files: string[];
  /** a copy downloaded back through the server (input for `mlflow models serve`) */
  localPath: string;
}

/** A registered model version (`models:/<name>/<version>`). */
export interface MlflowModelVersion extends MlflowLoggedModel {
  version: string;
  /** `models:/<name>/<version>` */
  registryUri: string;
  /** the version's `source` as the registry reports it (`models:/m-<hex>` in MLflow 3) */
  source: string;
}

/** The models logged on one tracking server. */
export interface MlflowFixtures {
  trackingUri: string;
  experimentName: string;
  experimentId: string;
  /** `iris-onnx`: versions 1..3, stages.Production → "1", aliases.champion → "2", latest → "3" */
  iris: {
    name: string;
    versions: MlflowModelVersion[];
    stages: Record<string, string>;
    aliases: Record<string, string>;
    latest: string;
  };
  /** `iris-onnx-external` version 1: an MLP whose weights are ONNX external data (`<uuid>.data`) */
  external: MlflowLoggedModel & { name: string; version: string; registryUri: string; externalDataFiles: string[] };
  /** an unregistered MLflow 3 logged model, reachable only as `models:/m-<hex>` */
  loggedModel: MlflowLoggedModel;
  /** a model directory logged as plain run artifacts (MLflow 2 layout): `runs:/<runId>/model` */
  runArtifact: {
    runId: string;
    path: string;
    runUri: string;
    artifactUri: string;
    artifactPath: string;
    files: string[];
    localPath: string;
  };
  /** three iris rows (float32 values), the models' input example: shape [3, 4] */
  sampleInput: number[][];
}

/** What `startMlflow` publishes as `readPeers().mlflow`. */
export interface MlflowPeerInfo {
  /** tracking server without auth */
  url: string;
  /** tracking server with `--app-name basic-auth` */
  authUrl: string;
  /** a non-admin user of the auth server (READ on everything, the server's default permission) */
  username: string;
  password: string;
  adminUsername: string;
  adminPassword: string;
  /** models on `url` */
  models: MlflowFixtures;
  /** the same models on `authUrl` (their own run ids, model ids, versions) */
  authModels: MlflowFixtures;
  /**
   * A registered model on `authUrl` the test user is DENIED (403; the admin reads it): version 1 has the
   * files of `authModels.iris` version 1.
   */
  deniedModel: { name: string; version: string };
  /** the venv's python (mlflow, onnxruntime, …), e.g. for `mlflow models serve` */
  python: string;
  /** startup figures, ms: both servers healthy; then until fixtures are logged (they overlap); total */
  timings: { serversMs: number; fixturesMs: number; totalMs: number };
}

/** Reads `readPeers().mlflow`, published by global setup. */
export function readMlflowPeer(): MlflowPeerInfo {
  const info = readPeers().mlflow as MlflowPeerInfo | undefined;
  if (!info) throw new Error('the MLflow peer is not published: global setup did not start it');
  return info;
}

/** The testing ground's Python (built once, cached): see testkit/peers/ensure-python.sh. */
export async function venvPython(): Promise<string> {
  const script = path.join(here, 'ensure-python.sh');
  const { stdout } = await promisify(execFile)('bash', [script, '--print-python'], { maxBuffer: 1 << 20 });
  return stdout.trim();
}

/** The environment of a process from the venv: its bin first on PATH (mlflow spawns `uvicorn` by name). */
export function venvEnv(python: string, extra: NodeJS.ProcessEnv = {}): NodeJS.ProcessEnv {
  return {
    ...process.env,
    PATH: `${path.dirname(python)}${path.delimiter}${process.env.PATH ?? ''}`,
    MLFLOW_ENABLE_ARTIFACTS_PROGRESS_BAR: 'false',
    ...extra,
  };
}

/**
 * Starts two real MLflow tracking servers (sqlite backend, proxied artifacts, loopback, one worker):
 * `mlflow` without auth and `mlflow-auth` with `--app-name basic-auth`; creates a non-admin user on
 * the latter; logs the fixture models on both (testkit/fixtures/mlflow/make-models.py); publishes
 * `run.info.mlflow` ({@link MlflowPeerInfo}).
 */
export async function startMlflow(run: PeerRun): Promise<void> {
  const started = Date.now();
  const python = await venvPython();
  const root = path.join(run.runDir, 'mlflow');
  const admin = { username: 'admin', password: secret() };
  await mkdir(root, { recursive: true });
  const [port, authPort] = await twoFreePorts();
  const [url, authUrl] = [port, authPort].map((p) => `http://127.0.0.1:${p}`) as [string, string];
  // the fixture script imports and trains while the servers start, then waits for their /health
  const fixtures = makeModels({ run, python, dir: root, url, authUrl, admin });
  try {
    await Promise.all([
      startServer({ run, python, port, dir: path.join(root, 'plain'), name: 'mlflow' }),
      startServer({ run, python, port: authPort, dir: path.join(root, 'auth'), name: 'mlflow-auth', admin }),
    ]);
  } catch (err) {
    fixtures.kill();
    throw err;
  }
  const serversMs = Date.now() - started;
  const user = { username: 'modelctl-test', password: secret() };
  await createUser(authUrl, admin, user);
  const described = await fixtures.done;
  const deniedModel = await addDeniedModel({ authUrl, admin, user, like: described.auth!.iris.versions[0]! });
  const fixturesMs = Date.now() - started - serversMs;
  const info: MlflowPeerInfo = {
    url,
    authUrl,
    username: user.username,
    password: user.password,
    adminUsername: admin.username,
    adminPassword: admin.password,
    models: described.plain!,
    authModels: described.auth!,
    deniedModel,
    python,
    timings: { serversMs, fixturesMs, totalMs: Date.now() - started },
  };
  run.info.mlflow = info;
}

interface Credentials {
  username: string;
  password: string;
}

function secret(): string {
  return randomBytes(18).toString('base64url');
}

function basic({ username, password }: Credentials): string {
  return `Basic ${Buffer.from(`${username}:${password}`).toString('base64')}`;
}

/** Starts one tracking server; with `admin`, the basic-auth app with its own user db. */
async function startServer(params: {
  run: PeerRun;
  python: string;
  port: number;
  dir: string;
  name: string;
  admin?: Credentials;
}): Promise<void> {
  const { run, python, port, dir, name, admin } = params;
  await mkdir(dir, { recursive: true });
  const url = `http://127.0.0.1:${port}`;
  const args = [
    ...['server', '--backend-store-uri', `sqlite:///${path.join(dir, 'mlflow.db')}`],
    ...['--serve-artifacts', '--artifacts-destination', path.join(dir, 'artifacts')],
    ...['--host', '127.0.0.1', '--port', String(port), '--workers', '1'],
  ];
  // no background job runner: one Python process less to start per server, and no job is used here
  let extraEnv: NodeJS.ProcessEnv = { MLFLOW_SERVER_ENABLE_JOB_EXECUTION: 'false' };
  if (admin) {
    args.push('--app-name', 'basic-auth');
    extraEnv = { ...extraEnv, ...(await authEnv(dir, admin)) };
  }
  await run.spawnPeer({
    name,
    command: path.join(path.dirname(python), 'mlflow'),
    args,
    cwd: dir,
    env: venvEnv(python, extraEnv),
    ready: async () => (await fetch(`${url}/health`)).ok,
    timeoutMs: 180_000,
  });
}

async function twoFreePorts(): Promise<[number, number]> {
  const first = await freePort();
  let second = await freePort();
  while (second === first) second = await freePort();
  return [first, second];
}

/** basic_auth.ini of the auth server: its own user db, READ by default, admin from env. */
async function authEnv(dir: string, admin: Credentials): Promise<NodeJS.ProcessEnv> {
  const ini = path.join(dir, 'basic_auth.ini');
  await writeFile(
    ini,
    [
      '[mlflow]',
      'default_permission = READ',
      `database_uri = sqlite:///${path.join(dir, 'basic_auth.db')}`,
      `admin_username = ${admin.username}`,
      'authorization_function = mlflow.server.auth:authenticate_request_basic_auth',
      // otherwise every request re-hashes the password (werkzeug scrypt), slow on 2 shared cores
      'auth_cache_ttl_seconds = 300',
      '',
    ].join('\n'),
  );
  return {
    MLFLOW_AUTH_CONFIG_PATH: ini,
    // MLflow 3.17 ships no default admin password; it creates the admin with this one on first start
    MLFLOW_AUTH_ADMIN_PASSWORD: admin.password,
    // the basic-auth app refuses to start without a static CSRF secret
    MLFLOW_FLASK_SERVER_SECRET_KEY: secret(),
  };
}

/** Creates a non-admin user through the auth REST API, as the admin. */
async function createUser(authUrl: string, admin: Credentials, user: Credentials): Promise<void> {
  const res = await fetch(`${authUrl}/api/2.0/mlflow/users/create`, {
    method: 'POST',
    headers: { authorization: basic(admin), 'content-type': 'application/json' },
    body: JSON.stringify(user),
  });
  if (!res.ok) throw new Error(`MLflow auth: creating user ${user.username} answered ${res.status}`);
}

/** POSTs JSON to the auth server as the admin; throws with the status (never the credentials). */
async function postAsAdmin(url: string, admin: Credentials, body: unknown): Promise<unknown> {
  const res = await fetch(url, {
    method: 'POST',
    headers: { authorization: basic(admin), 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  if (!res.ok)
    throw new Error(`MLflow auth: POST ${new URL(url).pathname} answered ${res.status}: ${await res.text()}`);
  return res.json();
}

/** Registers `iris-onnx-private` (same files as `like`) and DENYs it to the test user. */
async function addDeniedModel(params: {
  authUrl: string;
  admin: Credentials;
  user: Credentials;
  like: MlflowModelVersion;
}): Promise<{ name: string; version: string }> {
  const { authUrl, admin, user, like } = params;
  const name = 'iris-onnx-private';
  const api = `${authUrl}/api/2.0/mlflow`;
  await postAsAdmin(`${api}/registered-models/create`, admin, { name });
  const created = (await postAsAdmin(`${api}/model-versions/create`, admin, {
    name,
    source: like.source,
    run_id: like.runId,
    model_id: like.modelId,
  })) as { model_version: { version: string } };
  // MLflow 3.17 grants per user through the v3 API; DENY overrides the server's default READ
  await postAsAdmin(`${authUrl}/api/3.0/mlflow/users/permissions/grant`, admin, {
    username: user.username,
    resource_type: 'registered_model',
    resource_id: name,
    permission: 'DENY',
  });
  return { name, version: created.model_version.version };
}

/** Runs make-models.py against both servers; its output goes to the `mlflow-fixtures` log. */
function makeModels(params: {
  run: PeerRun;
  python: string;
  dir: string;
  url: string;
  authUrl: string;
  admin: Credentials;
}): { done: Promise<Record<string, MlflowFixtures>>; kill: () => void } {
  const { run, python, dir, url, authUrl, admin } = params;
  const out = path.join(dir, 'fixtures.json');
  const logFile = run.logFile('mlflow-fixtures');
  const args = [FIXTURE_SCRIPT, '--work-dir', path.join(dir, 'models'), '--out', out];
  args.push('--server', `plain=${url}`, '--server', `auth=${authUrl}`);
  // a developer's own MLflow settings (token, TLS, tracking URI) must not leak into the fixtures
  const env = Object.fromEntries(
    Object.entries(
      venvEnv(python, {
        MODELCTL_FIXTURE_AUTH_USERNAME: admin.username,
        MODELCTL_FIXTURE_AUTH_PASSWORD: admin.password,
      }),
    ).filter(([key]) => !key.startsWith('MLFLOW_TRACKING_')),
  );
  const { child, exited } = runToLog({ command: python, args, env, cwd: dir, logFile });
  const done = exited.then(async (code) => {
    if (code !== 0) throw new Error(`MLflow fixtures (make-models.py) exited with ${code}\n${tail(logFile)}`);
    return JSON.parse(await readFile(out, 'utf8')) as Record<string, MlflowFixtures>;
  });
  // a server that fails to start rejects startMlflow first; this one must not go unhandled meanwhile
  done.catch(() => undefined);
  return { done, kill: () => child.kill('SIGKILL') };
}

function runToLog(params: { command: string; args: string[]; env: NodeJS.ProcessEnv; cwd: string; logFile: string }): {
  child: ChildProcess;
  exited: Promise<number | string>;
} {
  const log = createWriteStream(params.logFile, { flags: 'a' });
  const child = spawn(params.command, params.args, {
    env: params.env,
    cwd: params.cwd,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  child.stdout?.pipe(log);
  child.stderr?.pipe(log);
  const exited = new Promise<number | string>((resolve, reject) => {
    child.once('error', reject);
    child.once('close', (code, signal) => log.end(() => resolve(code ?? signal ?? 'unknown')));
  });
  return { child, exited };
}
