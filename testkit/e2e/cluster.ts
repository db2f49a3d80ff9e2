import { execFile, spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { request } from 'undici';

/** Helpers for the end-to-end suite: the cluster `make cluster` started, driven with its own kubectl. */

export const REPO_ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const CACHE = process.env.MODELCTL_CACHE ?? path.join(process.env.HOME ?? '/root', '.cache', 'modelctl');

/** The cluster's kubeconfig (cluster/lib.sh: $MODELCTL_CACHE/cluster/kubeconfig). Throws when the cluster is not up. */
function kubeconfigPath(): string {
  const file = process.env.KUBECONFIG ?? path.join(CACHE, 'cluster', 'kubeconfig');
  if (!existsSync(file)) throw new Error(`no cluster kubeconfig at ${file}: run \`make cluster\` first`);
  return file;
}

/** The environment every command of the suite runs with: the cluster's kubeconfig. */
function clusterEnv(extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return { ...process.env, KUBECONFIG: kubeconfigPath(), ...extra };
}

const run = promisify(execFile);

/** Runs a command with the cluster's kubeconfig; rejects with its output on a non-zero exit. */
export async function sh(
  file: string,
  args: string[],
  opts: { env?: Record<string, string>; timeoutMs?: number; input?: string } = {},
): Promise<{ stdout: string; stderr: string }> {
  if (opts.input !== undefined) return shWithInput(file, args, opts.input, opts.env);
  try {
    return await run(file, args, {
      cwd: REPO_ROOT,
      env: clusterEnv(opts.env),
      timeout: opts.timeoutMs ?? 300_000,
      maxBuffer: 64 * 1024 * 1024,
    });
  } catch (err) {
    const e = err as { stdout?: string; stderr?: string; message: string };
    throw new Error(`${file} ${args.join(' ')} failed: ${e.message}\n${e.stdout ?? ''}\n${e.stderr ?? ''}`, {
      cause: err,
    });
  }
}

function shWithInput(
  file: string,
  args: string[],
  input: string,
  env: Record<string, string> = {},
): Promise<{ stdout: string; stderr: string }> {
  return new Promise((resolve, reject) => {
    const child = spawn(file, args, { cwd: REPO_ROOT, env: clusterEnv(env) });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('error', reject);
    child.on('close', (code) =>
      code === 0
        ? resolve({ stdout, stderr })
        : reject(new Error(`${file} ${args.join(' ')} exited ${code}:\n${stderr}`)),
    );
    child.stdin.end(input);
  });
}

/** kubectl (the repo's pinned one, knative/kubectl.sh) against the cluster. */
export async function kubectl(...args: string[]): Promise<string> {
  return (await sh('bash', [path.join(REPO_ROOT, 'knative', 'kubectl.sh'), ...args])).stdout;
}

/** `kubectl get -o json` parsed. */
export async function getJson<T = Record<string, unknown>>(...args: string[]): Promise<T> {
  return JSON.parse(await kubectl('get', ...args, '-o', 'json')) as T;
}

interface Condition {
  type: string;
  status: string;
  reason?: string;
  message?: string;
}
interface WithConditions {
  metadata: { name: string; namespace?: string };
  status?: { conditions?: Condition[] };
}

/** The Ready condition of an object (Knative resources, sources), or undefined. */
function readyCondition(obj: WithConditions): Condition | undefined {
  return obj.status?.conditions?.find((c) => c.type === 'Ready');
}

/** Polls `check` until it returns a value other than undefined; throws with the last state after `timeoutMs`. */
export async function waitFor<T>(
  what: string,
  check: () => Promise<T | undefined>,
  opts: { timeoutMs?: number; intervalMs?: number; describe?: () => Promise<string> } = {},
): Promise<T> {
  const deadline = Date.now() + (opts.timeoutMs ?? 180_000);
  let lastError: unknown;
  for (;;) {
    try {
      const value = await check();
      if (value !== undefined) return value;
    } catch (err) {
      lastError = err;
    }
    if (Date.now() > deadline) {
      const state = opts.describe ? await opts.describe().catch((e: unknown) => String(e)) : '';
      throw new Error(`timed out waiting for ${what}${lastError ? `: ${String(lastError)}` : ''}\n${state}`);
    }
    await new Promise((r) => setTimeout(r, opts.intervalMs ?? 2000));
  }
}

/** Waits until every object of `kind` in `namespace` (or the named one) reports Ready=True. */
export async function waitReady(kind: string, namespace: string, name?: string, timeoutMs = 300_000): Promise<void> {
  await waitFor(
    `${kind}${name ? `/${name}` : ''} Ready in ${namespace}`,
    async () => {
      const list = name
        ? { items: [await getJson<WithConditions>(kind, name, '-n', namespace)] }
        : await getJson<{ items: WithConditions[] }>(kind, '-n', namespace);
      if (list.items.length === 0) return undefined;
      return list.items.every((o) => readyCondition(o)?.status === 'True') ? true : undefined;
    },
    {
      timeoutMs,
      describe: async () => kubectl('get', kind, '-n', namespace, ...(name ? [name] : []), '-o', 'wide'),
    },
  );
}

/** The ingress (Traefik's NodePort on the node address; cluster/README.md). */
export const INGRESS = process.env.CLUSTER_INGRESS ?? 'http://10.213.0.1:31080';

/**
 * POSTs JSON to a Knative Service through the ingress, routed by its host name `<service>.<namespace>.example.com`.
 * undici's `request`, not the global `fetch`: fetch treats `Host` as a forbidden header and drops it, so the
 * ingress would see the node address and answer 404.
 */
export async function postThroughIngress(
  service: string,
  namespace: string,
  urlPath: string,
  body: unknown,
): Promise<{ status: number; body: string }> {
  const res = await request(`${INGRESS}${urlPath}`, {
    method: 'POST',
    headers: { host: `${service}.${namespace}.example.com`, 'content-type': 'application/json' },
    body: JSON.stringify(body),
  });
  return { status: res.statusCode, body: await res.body.text() };
}

/** `kn` (Knative's CLI, built from the release source by cluster/build.sh; knative/kn.sh) against the cluster. */
async function kn(...args: string[]): Promise<string> {
  return (await sh('bash', [path.join(REPO_ROOT, 'knative', 'kn.sh'), ...args])).stdout;
}

/** One row of `kn service list`'s table, by its column headers (NAME, URL, LATEST, AGE, CONDITIONS, READY, REASON). */
type KnServiceRow = Record<string, string>;

/**
 * `kn service list -n namespace` as users read it: its table, one record per Service keyed by the header's columns
 * (cut at the header's column starts, as kn aligns them).
 */
export async function knServiceList(namespace: string): Promise<KnServiceRow[]> {
  const lines = (await kn('service', 'list', '-n', namespace)).split('\n').filter((l) => l.trim() !== '');
  const [header, ...rows] = lines;
  if (header === undefined || !header.startsWith('NAME')) return [];
  const starts = [...header.matchAll(/\S+/g)].map((m) => ({ name: m[0], at: m.index }));
  return rows.map((row) =>
    Object.fromEntries(starts.map((col, i) => [col.name, row.slice(col.at, starts[i + 1]?.at ?? row.length).trim()])),
  );
}

/** The pods of a Knative Service (every Revision), by Knative's `serving.knative.dev/service` label. */
export async function servicePods(
  namespace: string,
  service: string,
): Promise<{ metadata: { name: string }; status: { phase: string } }[]> {
  const selector = `serving.knative.dev/service=${service}`;
  return (
    await getJson<{ items: { metadata: { name: string }; status: { phase: string } }[] }>(
      'pods',
      '-n',
      namespace,
      '-l',
      selector,
    )
  ).items;
}
