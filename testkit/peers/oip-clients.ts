import { execFile } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';

const here = path.dirname(fileURLToPath(import.meta.url));

/** A tensor as the client script takes and prints it: flat data. */
export interface ClientTensor {
  name: string;
  datatype: string;
  shape: number[];
  data: unknown[];
}
/** What one client saw (oip-clients.py prints it). */
export interface ClientRun {
  live?: boolean;
  ready?: boolean;
  metadata?: unknown;
  /** inputs and requested outputs as binary tensor data (gRPC: raw contents) */
  binary: { id: string | null; outputs: ClientTensor[] };
  /** the same with JSON data (tritonclient HTTP only) */
  json?: { id: string | null; outputs: ClientTensor[] };
  /** the outputs answered when none is named (tritonclient HTTP: binary_data_output) */
  all_outputs?: string[];
}

/** The python of the clients venv (tritonclient[http,grpc], kserve), built once by ensure-python.sh. */
export async function clientsPython(): Promise<string> {
  const { stdout } = await promisify(execFile)(
    'bash',
    [path.join(here, 'ensure-python.sh'), '--set', 'clients', '--print-python'],
    {
      maxBuffer: 1 << 20,
    },
  );
  return stdout.trim();
}

/**
 * Runs one real client against `target` (`host:port` for tritonclient, `http://host:port` for kserve).
 * @throws the client's own error output when it fails
 */
export async function runOipClient(params: {
  python: string;
  client: 'triton-http' | 'triton-grpc' | 'kserve-rest';
  target: string;
  model: string;
  request: { inputs: ClientTensor[]; outputs: string[] };
}): Promise<ClientRun> {
  const { stdout } = await promisify(execFile)(
    params.python,
    [path.join(here, 'oip-clients.py'), params.client, params.target, params.model, JSON.stringify(params.request)],
    { maxBuffer: 64 << 20, timeout: 60_000 },
  );
  return JSON.parse(stdout.trim().split('\n').pop()!) as ClientRun;
}
