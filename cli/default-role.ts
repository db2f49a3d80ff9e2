/** The roles `MODELCTL_ROLE` may name: every subcommand of the image. */
const ROLES = ['serve', 'fetch', 'agent', 'warm', 'cleanup', 'deploy'] as const;

/**
 * The arguments modelctl runs with when the container gave it none that name a role (Kubernetes `args` absent,
 * as in the replaced runtime's manifests and under `func deploy`):
 * 1. `MODELCTL_ROLE` names the role (every role can be chosen this way);
 * 2. else the environment says it: `MODEL_URI` alone is the downloader's contract (fetch), `MODEL_LOCAL_PATH` or
 *    `MLFLOW_MODEL_URI` the server's (serve);
 * 3. else nothing is added (a person at a terminal gets the help).
 * Explicit arguments that start with a role, or ask for help/version, are kept as they are.
 * @throws Error when MODELCTL_ROLE is not one of {@link ROLES}
 */
export function withDefaultRole(args: readonly string[], env: Readonly<Record<string, string | undefined>>): string[] {
  const first = args[0];
  if (first !== undefined && (!first.startsWith('-') || ['-h', '--help', '-V', '--version'].includes(first))) {
    return [...args];
  }
  const role = roleFromEnv(env);
  return role === null ? [...args] : [role, ...args];
}

/**
 * Whether these arguments, after {@link withDefaultRole}, are `serve` and nothing else: no flag for commander to
 * read. A MODELCTL_ROLE that names no role is not (main.ts reports it).
 */
export function isServeWithoutFlags(
  args: readonly string[],
  env: Readonly<Record<string, string | undefined>>,
): boolean {
  try {
    const resolved = withDefaultRole(args, env);
    return resolved.length === 1 && resolved[0] === 'serve';
  } catch {
    return false;
  }
}

function roleFromEnv(env: Readonly<Record<string, string | undefined>>): string | null {
  const named = env.MODELCTL_ROLE?.trim();
  if (named) {
    if (!(ROLES as readonly string[]).includes(named)) {
      throw new Error(`MODELCTL_ROLE: "${named}" is not a role (expected one of ${ROLES.join(', ')})`);
    }
    return named;
  }
  if (env.MODEL_LOCAL_PATH || env.MLFLOW_MODEL_URI) return 'serve';
  if (env.MODEL_URI) return 'fetch';
  return null;
}
