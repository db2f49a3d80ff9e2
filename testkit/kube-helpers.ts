import { execFile } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { ApiException, CoreV1Api, KubeConfig } from '@kubernetes/client-node';
import { CloudEvent, HTTP } from 'cloudevents';
import type { KubeInfo } from './peers/kube.js';
import { readPeers } from './peers/peer-run.js';

/**
 * Helpers for integration tests against the testing ground's kube-apiserver (testkit/peers/kube.ts).
 *
 * Nothing garbage-collects there: no controller manager runs, so a deleted namespace would stay Terminating
 * forever with its objects. Tests therefore work in a fresh namespace each ({@link createTestNamespace}) and
 * leave it; the whole store (etcd in the run dir) is thrown away when the run's peers stop.
 */

/** The kube peer's coordinates published by global setup. Throws if it was not started. */
export function kubePeer(): KubeInfo {
  const kube = readPeers().kube as KubeInfo | undefined;
  if (!kube?.server) throw new Error('the kube peer is not running: global setup did not publish readPeers().kube');
  return kube;
}

/** A client-node KubeConfig acting as the cluster admin (system:masters). */
export function adminKubeConfig(): KubeConfig {
  return kubeConfigForToken(kubePeer().token);
}

/** A client-node KubeConfig for the test API server that authenticates with `token`. */
function kubeConfigForToken(token: string): KubeConfig {
  const { server, caFile } = kubePeer();
  const kc = new KubeConfig();
  kc.loadFromOptions({
    clusters: [{ name: 'modelctl-test', server, caFile, skipTLSVerify: false }],
    users: [{ name: 'token', token }],
    contexts: [{ name: 'modelctl-test', cluster: 'modelctl-test', user: 'token' }],
    currentContext: 'modelctl-test',
  });
  return kc;
}

/**
 * Creates a namespace named `<prefix>-<random>` (unique per call), labelled `modelctl.test/prefix`.
 * It is left in place afterwards (see the module comment).
 * @returns the namespace name
 */
export async function createTestNamespace(prefix: string): Promise<string> {
  // a namespace name is a DNS-1123 label (<= 63 chars); 9 go to the random suffix
  if (!/^[a-z0-9]([-a-z0-9]{0,52}[a-z0-9])?$/.test(prefix)) {
    throw new Error(`namespace prefix ${JSON.stringify(prefix)} is not 1-54 lowercase letters, digits or inner dashes`);
  }
  const name = `${prefix}-${randomBytes(4).toString('hex')}`;
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  await core.createNamespace({
    body: { metadata: { name, labels: { 'modelctl.test/prefix': prefix } } },
  });
  return name;
}

/**
 * A token for ServiceAccount `namespace/name` from the TokenRequest API, creating the ServiceAccount when it
 * does not exist yet. Tests act with it exactly as a pod using that ServiceAccount would.
 */
export async function serviceAccountToken(
  namespace: string,
  name: string,
  /** @default 3600 */
  expirationSeconds = 3600,
): Promise<string> {
  const core = adminKubeConfig().makeApiClient(CoreV1Api);
  try {
    await core.createNamespacedServiceAccount({ namespace, body: { metadata: { name } } });
  } catch (err) {
    if (!(err instanceof ApiException && err.code === 409)) throw err;
  }
  const tokenRequest = await core.createNamespacedServiceAccountToken({
    namespace,
    name,
    body: { spec: { audiences: [], expirationSeconds } },
  });
  const token = tokenRequest.status?.token;
  if (!token) throw new Error(`TokenRequest for ServiceAccount ${namespace}/${name} returned no token`);
  return token;
}

/** A client-node KubeConfig acting as ServiceAccount `namespace/name` (created if missing), via TokenRequest. */
export async function kubeConfigAsServiceAccount(namespace: string, name: string): Promise<KubeConfig> {
  return kubeConfigForToken(await serviceAccountToken(namespace, name));
}

/** Writes a kubeconfig acting as ServiceAccount `namespace/name` (TokenRequest token): what a pod of it mounts. */
export async function writeServiceAccountKubeconfig(namespace: string, name: string, file: string): Promise<void> {
  const kube = kubePeer();
  const token = await serviceAccountToken(namespace, name);
  const config = {
    apiVersion: 'v1',
    kind: 'Config',
    clusters: [{ name: 't', cluster: { server: kube.server, 'certificate-authority': kube.caFile } }],
    users: [{ name: 'sa', user: { token } }],
    contexts: [{ name: 't', context: { cluster: 't', user: 'sa' } }],
    'current-context': 't',
  };
  await writeFile(file, JSON.stringify(config), { mode: 0o600 });
}

/**
 * The CloudEvent an ApiServerSource (mode Resource) sends when `namespace/modelctl-models` is added: binary
 * HTTP headers and body, ready to POST to a warm function.
 */
export function modelsConfigMapAddEvent(namespace: string, configMap: Record<string, unknown>) {
  const event = new CloudEvent({
    id: randomUUID(),
    type: 'dev.knative.apiserver.resource.add',
    source: kubePeer().server,
    subject: `/apis/v1/namespaces/${namespace}/configmaps/modelctl-models`,
    datacontenttype: 'application/json',
    data: configMap,
    kind: 'ConfigMap',
    name: 'modelctl-models',
    namespace,
  });
  const message = HTTP.binary(event);
  return { headers: message.headers as Record<string, string>, body: message.body as string };
}

/** Outcome of one kubectl run; a non-zero exit is a result here (e.g. `auth can-i` answering "no" exits 1). */
export interface KubectlResult {
  code: number;
  stdout: string;
  stderr: string;
}

/**
 * Runs the pinned kubectl against the test API server as admin, or as someone else.
 * Never throws for a non-zero exit: assert on `code`. The token never appears in a thrown message.
 */
export async function runKubectl(
  args: string[],
  options: {
    /** impersonate this user (`--as`), e.g. `system:serviceaccount:ns:sa`; the admin may impersonate anyone */
    as?: string;
    /** authenticate with this bearer token instead of the admin's */
    token?: string;
    /** written to kubectl's stdin (for `-f -`) */
    stdin?: string;
    /** @default 60000 */
    timeoutMs?: number;
  } = {},
): Promise<KubectlResult> {
  const kube = kubePeer();
  const auth = [...(options.as ? [`--as=${options.as}`] : []), ...(options.token ? [`--token=${options.token}`] : [])];
  return new Promise((resolve, reject) => {
    const child = execFile(
      kube.kubectl,
      [`--kubeconfig=${kube.kubeconfig}`, ...auth, ...args],
      {
        env: { ...process.env, KUBECACHEDIR: path.join(path.dirname(kube.kubeconfig), 'kubectl-cache') },
        timeout: options.timeoutMs ?? 60_000,
        maxBuffer: 64 * 1024 * 1024,
      },
      (err, stdout, stderr) => {
        const code = err ? (typeof err.code === 'number' ? err.code : null) : 0;
        if (code === null) {
          reject(
            new Error(`kubectl ${args.join(' ')} did not finish: ${err?.killed ? 'timed out' : String(err?.code)}`),
          );
          return;
        }
        resolve({ code, stdout, stderr });
      },
    );
    child.stdin?.end(options.stdin ?? '');
  });
}
