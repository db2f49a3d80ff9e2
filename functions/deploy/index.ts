import { isAppError } from '../../shared/errors/app-error.js';
import { loadKubeConfig, type KubeConfig } from '../../shared/k8s/load-kube-config.js';
import { describeIssues } from '../../shared/config/describe-issues.js';
import { DeployOptions } from './deploy-options.js';
import { deployService, type DeployMode } from './deploy-service.js';

/** What the CLI hands over: the deploy flags (commander's camelCase names) and the run mode. */
export interface DeployRequest {
  flags: Record<string, unknown>;
  mode: DeployMode;
  /** `--kubeconfig`; else KUBECONFIG, ~/.kube/config, in-cluster */
  kubeconfigPath?: string | undefined;
}

/**
 * Entry of `modelctl deploy`: parses the flags once (a bad one stops with one line per flag), takes the
 * namespace from the kubeconfig context when `--namespace` is absent, runs {@link deployService}.
 * Exit code 1 with one message on stderr for any expected failure.
 */
export async function runDeploy(request: DeployRequest): Promise<void> {
  let kubeConfig: KubeConfig | undefined;
  const getKubeConfig = (): KubeConfig => (kubeConfig ??= loadKubeConfig({ kubeconfigPath: request.kubeconfigPath }));
  try {
    const flags = { ...request.flags };
    if (flags.namespace === undefined) flags.namespace = contextNamespace(getKubeConfig) ?? 'default';
    const parsed = DeployOptions.safeParse(flags);
    if (!parsed.success) {
      const lines = describeIssues(parsed.error.issues).map((line) =>
        line.replace(/^([A-Za-z]+)/, (name) => toFlag(name)),
      );
      process.stderr.write(`modelctl deploy: ${lines.join('\nmodelctl deploy: ')}\n`);
      process.exit(1);
    }
    await deployService({
      options: parsed.data,
      mode: request.mode,
      kubeConfig: getKubeConfig,
      envTrackingUri: process.env.MLFLOW_TRACKING_URI,
      write: (text) => process.stdout.write(`${text}\n`),
      warn: (text) => process.stderr.write(`modelctl deploy: ${text}\n`),
    });
  } catch (err) {
    if (!isAppError(err)) throw err;
    process.stderr.write(`modelctl deploy: ${err.message}\n`);
    process.exit(1);
  }
}

/** The current context's namespace, or null (also when there is no kubeconfig: a client dry run needs none). */
function contextNamespace(getKubeConfig: () => KubeConfig): string | null {
  try {
    const kc = getKubeConfig();
    return kc.getContextObject(kc.getCurrentContext())?.namespace ?? null;
  } catch {
    return null;
  }
}

/** `serveName` → `--serve-name`. */
function toFlag(name: string): string {
  return `--${name.replace(/[A-Z]/g, (c) => `-${c.toLowerCase()}`)}`;
}
