import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import type { Logger } from '../../shared/log/create-logger.js';
import type { AgentEnv } from './agent-env.js';

/** The DaemonSet mode (placeholder until the cluster loop lands; see issue 5). */
export async function runAgentLoop(params: { config: AgentEnv; access: HubAccess; signal: AbortSignal; log: Logger }): Promise<void> {
  void params;
  throw new Error('cluster mode is not implemented yet: use --once (issue 5)');
}
