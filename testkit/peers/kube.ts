import { execFile } from 'node:child_process';
import { generateKeyPairSync, randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdir, readdir, readFile, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { Agent, request } from 'undici';
import { parse, stringify } from 'yaml';
import { freePort, type PeerRun } from './peer-run.js';

const execFileAsync = promisify(execFile);

/** What `startKube` publishes as `readPeers().kube`. */
export interface KubeInfo {
  /** https://127.0.0.1:<port> */
  server: string;
  /** kubeconfig file (admin token, CA of the serving cert): `kubectl --kubeconfig`, `KubeConfig.loadFromFile` */
  kubeconfig: string;
  /** bearer token of `modelctl-admin`, member of system:masters */
  token: string;
  /** the CA that signed the API server's serving cert (PEM file) */
  caFile: string;
  /** the pinned kubectl, same release as the API server */
  kubectl: string;
  /** folder holding kube-apiserver, kubectl and etcd */
  binDir: string;
  /** Kubernetes release the binaries were built from, e.g. v1.36.3 */
  version: string;
  /** names of the installed Knative CRDs, all Established */
  crds: string[];
}

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../..');
/** CI clones main with the shared reference data beside it, like /work/main and /work/shared. */
const knativeCrdDir = path.resolve(repoRoot, '../shared/knative/crds');

/**
 * Starts the testing ground's Kubernetes control plane on loopback: etcd, then kube-apiserver (token auth,
 * RBAC, TokenRequest for ServiceAccounts), installs every Knative CRD from `../shared/knative/crds` and waits
 * until each is Established. No controllers run (see DESIGN.md "Testing ground"). Publishes `run.info.kube`.
 */
export async function startKube(run: PeerRun): Promise<void> {
  const binDir = await ensureKubeBinaries();
  const dir = path.join(run.runDir, 'kube');
  await mkdir(dir, { recursive: true });
  const etcdUrl = await startEtcd(run, binDir, dir);
  const files = await writeApiServerInputs(dir);
  const server = await startApiServer({ run, binDir, dir, etcdUrl, files });
  const kubeconfig = path.join(dir, 'kubeconfig');
  await writeFile(kubeconfig, renderKubeconfig({ server, caFile: files.caFile, token: files.token }), { mode: 0o600 });
  const kubectl = path.join(binDir, 'kubectl');
  const crds = await installKnativeCrds({ kubectl, kubeconfig, cacheDir: path.join(dir, 'kubectl-cache') });
  const info: KubeInfo = {
    server,
    kubeconfig,
    token: files.token,
    caFile: files.caFile,
    kubectl,
    binDir,
    version: await kubeVersion(binDir),
    crds,
  };
  run.info.kube = info;
}

/** 1. The three binaries, built once by ensure-kube.sh into $MODELCTL_CACHE (minutes the first time). */
async function ensureKubeBinaries(): Promise<string> {
  const script = path.join(here, 'ensure-kube.sh');
  const { stdout } = await execFileAsync('bash', [script, '--print-bin-dir'], {
    maxBuffer: 16 * 1024 * 1024,
    timeout: 60 * 60 * 1000,
  });
  const binDir = stdout.trim();
  for (const tool of ['etcd', 'kube-apiserver', 'kubectl']) {
    if (!existsSync(path.join(binDir, tool))) throw new Error(`ensure-kube.sh printed ${binDir}, which has no ${tool}`);
  }
  return binDir;
}

/** 2. etcd with its data in the run dir, client and peer URLs on random loopback ports. */
async function startEtcd(run: PeerRun, binDir: string, dir: string): Promise<string> {
  const clientUrl = `http://127.0.0.1:${await freePort()}`;
  const peerUrl = `http://127.0.0.1:${await freePort()}`;
  await run.spawnPeer({
    name: 'etcd',
    command: path.join(binDir, 'etcd'),
    args: [
      '--name=modelctl-test',
      `--data-dir=${path.join(dir, 'etcd')}`,
      `--listen-client-urls=${clientUrl}`,
      `--advertise-client-urls=${clientUrl}`,
      `--listen-peer-urls=${peerUrl}`,
      `--initial-advertise-peer-urls=${peerUrl}`,
      `--initial-cluster=modelctl-test=${peerUrl}`,
      // a throwaway store per test run: durability buys nothing and fsync is slow on shared CI disks
      '--unsafe-no-fsync',
      '--log-level=warn',
    ],
    ready: async () => {
      const res = await request(`${clientUrl}/health`);
      const body = (await res.body.json()) as { health?: string };
      return res.statusCode === 200 && body.health === 'true';
    },
    timeoutMs: 60_000,
  });
  return clientUrl;
}

interface ApiServerFiles {
  token: string;
  tokenFile: string;
  saKeyFile: string;
  certDir: string;
  caFile: string;
}

/** 3. The admin token (system:masters) and the ServiceAccount token signing key. */
async function writeApiServerInputs(dir: string): Promise<ApiServerFiles> {
  const token = randomBytes(24).toString('hex');
  const tokenFile = path.join(dir, 'tokens.csv');
  // token,user,uid,"group1,group2" (https://kubernetes.io/docs/reference/access-authn-authz/authentication/#static-token-file)
  await writeFile(tokenFile, `${token},modelctl-admin,modelctl-admin,"system:masters"\n`, { mode: 0o600 });
  const { privateKey } = generateKeyPairSync('rsa', {
    modulusLength: 2048,
    privateKeyEncoding: { type: 'pkcs1', format: 'pem' },
    publicKeyEncoding: { type: 'spki', format: 'pem' },
  });
  const saKeyFile = path.join(dir, 'service-account.key');
  await writeFile(saKeyFile, privateKey, { mode: 0o600 });
  const certDir = path.join(dir, 'certs');
  // kube-apiserver generates a CA and a serving cert for 127.0.0.1/localhost here (apiserver.crt = cert + CA)
  return { token, tokenFile, saKeyFile, certDir, caFile: path.join(certDir, 'apiserver.crt') };
}

/** 4. kube-apiserver on a random loopback port; ready when /readyz answers ok to the admin token. */
async function startApiServer(params: {
  run: PeerRun;
  binDir: string;
  dir: string;
  etcdUrl: string;
  files: ApiServerFiles;
}): Promise<string> {
  const { files } = params;
  const port = await freePort();
  const server = `https://127.0.0.1:${port}`;
  await params.run.spawnPeer({
    name: 'kube-apiserver',
    command: path.join(params.binDir, 'kube-apiserver'),
    args: [
      `--etcd-servers=${params.etcdUrl}`,
      '--bind-address=127.0.0.1',
      '--advertise-address=127.0.0.1',
      `--secure-port=${port}`,
      `--cert-dir=${files.certDir}`,
      `--token-auth-file=${files.tokenFile}`,
      '--authorization-mode=RBAC',
      '--service-account-issuer=https://kubernetes.default.svc.cluster.local',
      `--service-account-key-file=${files.saKeyFile}`,
      `--service-account-signing-key-file=${files.saKeyFile}`,
      '--service-cluster-ip-range=10.0.0.0/24',
      // the ServiceAccount admission plugin rejects Pods whose ServiceAccount does not exist yet, and only the
      // (absent) controller manager creates each namespace's "default" one
      '--disable-admission-plugins=ServiceAccount',
      '--allow-privileged=true',
      '--profiling=false',
      // two shared CPUs: priority-and-fairness queueing only adds work for a single-tenant test server
      '--enable-priority-and-fairness=false',
    ],
    ready: () => isApiServerReady(server, files),
    timeoutMs: 120_000,
  });
  return server;
}

async function isApiServerReady(server: string, files: ApiServerFiles): Promise<boolean> {
  if (!existsSync(files.caFile)) return false;
  const dispatcher = new Agent({ connect: { ca: await readFile(files.caFile, 'utf8') } });
  try {
    const res = await request(`${server}/readyz`, {
      headers: { authorization: `Bearer ${files.token}` },
      dispatcher,
    });
    await res.body.text();
    return res.statusCode === 200;
  } finally {
    await dispatcher.close();
  }
}

function renderKubeconfig(params: { server: string; caFile: string; token: string }): string {
  return stringify({
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 'modelctl-test', cluster: { server: params.server, 'certificate-authority': params.caFile } }],
    users: [{ name: 'modelctl-admin', user: { token: params.token } }],
    contexts: [{ name: 'modelctl-test', context: { cluster: 'modelctl-test', user: 'modelctl-admin' } }],
    'current-context': 'modelctl-test',
  });
}

/**
 * 5. Server-side applies every CRD of the shared Knative reference data with the pinned kubectl, then waits
 * until each is Established (its REST endpoints serve).
 * @returns the CRD names
 */
async function installKnativeCrds(params: {
  kubectl: string;
  kubeconfig: string;
  cacheDir: string;
}): Promise<string[]> {
  const names = await readCrdNames(knativeCrdDir);
  const kubectl = (args: string[]) =>
    execFileAsync(params.kubectl, [`--kubeconfig=${params.kubeconfig}`, ...args], {
      env: { ...process.env, KUBECACHEDIR: params.cacheDir },
      maxBuffer: 16 * 1024 * 1024,
    }).catch((err: Error & { stderr?: string }) => {
      throw new Error(`kubectl ${args[0]} of the Knative CRDs failed: ${err.stderr ?? err.message}`, { cause: err });
    });
  await kubectl(['apply', '--server-side', '--field-manager=modelctl-test', `--filename=${knativeCrdDir}`]);
  await kubectl(['wait', '--for=condition=Established', '--timeout=60s', ...names.map((n) => `crd/${n}`)]);
  return names;
}

async function readCrdNames(dir: string): Promise<string[]> {
  if (!existsSync(dir)) {
    throw new Error(`no Knative CRDs at ${dir}: the repo expects its shared/ reference data beside it (../shared)`);
  }
  const files = (await readdir(dir)).filter((f) => f.endsWith('.yaml')).sort();
  if (files.length === 0) throw new Error(`no *.yaml CRDs in ${dir}`);
  return Promise.all(
    files.map(async (file) => {
      const doc = parse(await readFile(path.join(dir, file), 'utf8')) as {
        kind?: string;
        metadata?: { name?: string };
      };
      if (doc.kind !== 'CustomResourceDefinition' || !doc.metadata?.name) {
        throw new Error(`${path.join(dir, file)} is not a single CustomResourceDefinition`);
      }
      return doc.metadata.name;
    }),
  );
}

async function kubeVersion(binDir: string): Promise<string> {
  const { stdout } = await execFileAsync(path.join(binDir, 'kube-apiserver'), ['--version']);
  // "Kubernetes v1.36.3"
  return stdout.trim().split(/\s+/).pop() ?? '';
}
