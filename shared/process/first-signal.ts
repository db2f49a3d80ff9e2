/**
 * The first SIGTERM or SIGINT from now on. Its listeners replace Node's default for these signals (the process
 * ended at once, by the signal): a role that takes a while to start listens first thing and drains once it can
 * (exitOnSignals). Its own module, without pino: serve calls it before the first inference thread starts.
 */
export function firstSignal(proc: NodeJS.Process = process): Promise<NodeJS.Signals> {
  return new Promise((resolve) => {
    proc.once('SIGTERM', () => resolve('SIGTERM'));
    proc.once('SIGINT', () => resolve('SIGINT'));
  });
}
