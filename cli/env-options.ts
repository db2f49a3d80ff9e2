import { Option, type Command } from 'commander';

/** A CLI flag that stands for an environment variable of the role (the flag wins when both are set). */
export interface EnvOption {
  /** commander flag syntax, e.g. `--port <port>` */
  flag: string;
  env: string;
  description: string;
  /** shown in help only: the default itself lives in the role's zod schema */
  defaultText?: string;
}

/** Adds each option to `cmd`, with its env var and default in the help text. */
export function addEnvOptions(cmd: Command, options: readonly EnvOption[]): Command {
  for (const o of options) {
    const extra = [`env: ${o.env}`, o.defaultText === undefined ? undefined : `default: ${o.defaultText}`]
      .filter(Boolean)
      .join(', ');
    cmd.addOption(new Option(o.flag, `${o.description} (${extra})`));
  }
  return cmd;
}

/** The flags the user gave, keyed by their env var name, ready to lay over `process.env`. */
export function envFromOptions(values: Record<string, unknown>, options: readonly EnvOption[]): Record<string, string> {
  const env: Record<string, string> = {};
  for (const o of options) {
    const key = attributeName(o.flag);
    const value = values[key];
    if (value === undefined) continue;
    env[o.env] = value === true ? 'true' : String(value);
  }
  return env;
}

/** `--model-local-path <dir>` → `modelLocalPath`, as commander names it. */
function attributeName(flag: string): string {
  const long = flag.split(/[ ,|]+/).find((part) => part.startsWith('--')) ?? flag;
  return long.replace(/^--(no-)?/, '').replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase());
}
