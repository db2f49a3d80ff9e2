import type { RequestListener, Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from '../log/create-logger.js';

// Not `import … from 'node:http'`: importing a built-in as ESM makes Node read every one of its exports, and
// node:http's lazy WebSocket/CloseEvent/MessageEvent getters then load the bundled undici (~20-30 ms of every
// role's cold start). getBuiltinModule hands over the same module without that.
const { createServer } = process.getBuiltinModule('node:http');

export interface RunningServer {
  server: Server;
  /** the bound port (useful with port 0) */
  port: number;
  /**
   * Graceful drain: stop accepting, let in-flight requests finish (up to `drainTimeoutMs`), close
   * keep-alive connections, resolve when the server is closed.
   */
  close: () => Promise<void>;
}

/**
 * Listens on `host:port` and returns a handle whose `close()` drains in-flight requests.
 * Signals are wired by the role's index.ts, which calls `close()` on SIGTERM.
 */
export async function startHttpServer(params: {
  handler: RequestListener;
  port: number;
  /** @default '0.0.0.0' (in a pod, the queue-proxy reaches us on the pod IP) */
  host?: string;
  /** @default 30000 */
  drainTimeoutMs?: number;
  /** called once when draining starts, before the listener closes */
  onDrainStart?: () => void;
  log: Logger;
}): Promise<RunningServer> {
  const server = createServer({ keepAliveTimeout: 65_000, headersTimeout: 66_000 }, params.handler);
  // Requests bound their own time (the scoring timeout); the socket-level default would cut long models.
  server.requestTimeout = 0;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(params.port, params.host ?? '0.0.0.0', () => {
      server.off('error', reject);
      resolve();
    });
  });
  const port = (server.address() as AddressInfo).port;
  let closing: Promise<void> | undefined;
  const close = (): Promise<void> => {
    closing ??= drain({
      server,
      drainTimeoutMs: params.drainTimeoutMs ?? 30_000,
      log: params.log,
      onDrainStart: params.onDrainStart,
    });
    return closing;
  };
  return { server, port, close };
}

async function drain(params: {
  server: Server;
  drainTimeoutMs: number;
  log: Logger;
  onDrainStart: (() => void) | undefined;
}): Promise<void> {
  const { server, log } = params;
  params.onDrainStart?.();
  log.info({ drainTimeoutMs: params.drainTimeoutMs }, 'draining');
  const closed = new Promise<void>((resolve) => server.close(() => resolve()));
  server.closeIdleConnections();
  // Keep-alive sockets that were busy become idle as their response ends: close them then.
  const sweep = setInterval(() => server.closeIdleConnections(), 50);
  const timeout = new Promise<'timeout'>((resolve) =>
    setTimeout(() => resolve('timeout'), params.drainTimeoutMs).unref(),
  );
  const outcome = await Promise.race([closed.then(() => 'closed' as const), timeout]);
  clearInterval(sweep);
  if (outcome === 'timeout') {
    log.warn('drain timeout reached; closing remaining connections');
    server.closeAllConnections();
    await closed;
  }
  log.info('drained');
}
