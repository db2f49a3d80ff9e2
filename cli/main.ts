#!/usr/bin/env node
import { Command } from 'commander';
import { registerServeCommand } from './commands/serve.js';
import { registerAgentCommand } from './commands/agent.js';
import { MODELCTL_VERSION } from '../shared/config/version.js';
import { registerDeployCommand } from './commands/deploy.js';
import { registerWarmCommand } from './commands/warm.js';
import { registerCleanupCommand } from './commands/cleanup.js';
import { registerFetchCommand } from './commands/fetch.js';
import { withDefaultRole } from './default-role.js';

/**
 * `modelctl`: one subcommand per role. Each role reads its settings from the environment (the names pods
 * already use); every setting is also a flag, which wins over the variable.
 */
const program = new Command('modelctl')
  .description('Serverless model serving on Knative where cold starts read models from local disk')
  .version(MODELCTL_VERSION)
  .showHelpAfterError()
  .enablePositionalOptions();

registerServeCommand(program);
registerAgentCommand(program);
registerDeployCommand(program);
registerWarmCommand(program);
registerCleanupCommand(program);
registerFetchCommand(program);

let args: string[];
try {
  // a container without args runs the role MODELCTL_ROLE (or its model env) names
  args = withDefaultRole(process.argv.slice(2), process.env);
} catch (err) {
  process.stderr.write(`modelctl: ${(err as Error).message}\n`);
  process.exit(1);
}
await program.parseAsync(args, { from: 'user' });
