// @ts-check
/**
 * Jest reporter: when a test file has failures, prints the last lines of every peer log, so a red CI
 * run shows what MLflow, the hub or the apiserver said at the time. Logs are those global setup
 * published (`logs` in the peers file, see testkit/peers/peer-run.ts) plus any other `*.log` in the run
 * directory (peers a test started on demand, e.g. `mlflow-serve-<port>.log`).
 * Plain JS so jest loads it without a transform.
 */
import { existsSync, readFileSync, readdirSync } from 'node:fs';
import path from 'node:path';

const PEERS_FILE_ENV = 'MODELCTL_PEERS_FILE';
const LINES = 40;

export default class PeerLogReporter {
  /** @param {unknown} _globalConfig @param {{ lines?: number }} [options] */
  constructor(_globalConfig, options = {}) {
    this.lines = options.lines ?? LINES;
  }

  /**
   * @param {unknown} _test
   * @param {{ numFailingTests: number, testExecError?: unknown, testFilePath: string }} result
   */
  onTestResult(_test, result) {
    if (result.numFailingTests === 0 && !result.testExecError) return;
    const logs = peerLogs();
    if (logs.length === 0) return;
    const out = [`\npeer logs after failures in ${path.basename(result.testFilePath)} (last ${this.lines} lines each)`];
    for (const [name, file] of logs) out.push(`\n----- ${name}: ${file}\n${tail(file, this.lines)}`);
    process.stderr.write(`${out.join('\n')}\n`);
  }
}

/** @returns {[string, string][]} peer name → log file, published ones first */
function peerLogs() {
  const file = process.env[PEERS_FILE_ENV];
  if (!file || !existsSync(file)) return [];
  /** @type {{ runDir: string, logs: Record<string, string> }} */
  const peers = JSON.parse(readFileSync(file, 'utf8'));
  const logs = Object.entries(peers.logs ?? {});
  const known = new Set(logs.map(([, f]) => f));
  if (existsSync(peers.runDir)) {
    for (const entry of readdirSync(peers.runDir).sort()) {
      const full = path.join(peers.runDir, entry);
      if (entry.endsWith('.log') && !known.has(full)) logs.push([entry.slice(0, -'.log'.length), full]);
    }
  }
  return logs;
}

/** @param {string} file @param {number} lines */
function tail(file, lines) {
  if (!existsSync(file)) return `(no log at ${file})`;
  return readFileSync(file, 'utf8').split('\n').slice(-lines).join('\n');
}
