// The agent-warmed node cache as a cold-start source (bench/cold-start-e2e.ts): each model's MLflow directory is
// put on the Hub stand-in in the cluster as repo bench-e2e/<model>, added to the models ConfigMap as a user does,
// warmed by warm + the agent into the node's hostPath, and served by `modelctl deploy --runtime custom` with our
// image running `serve` on the snapshot folder (read-only, offline). Uses the e2e suite's Hub helpers.
import { readFile, readdir } from 'node:fs/promises';
import path from 'node:path';
import { parse, stringify } from 'yaml';
import {
  editModelsConfig,
  mainCommit,
  pointModelctlAtHub,
  putHubRepo,
  readModelsYaml,
  startHubInCluster,
  waitForPlanned,
  waitForReadyNode,
} from '../testkit/e2e/hub.js';
import { log } from './bench-kit.js';
import type { Cell, ModelKey } from './e2e-cells.js';

const ORG = 'bench-e2e';
/** where the custom runtime mounts the node cache (functions/deploy/render-runtime.ts) */
const CACHE_MOUNT = '/hf-cache';

async function filesOf(dir: string): Promise<Record<string, Buffer>> {
  const files: Record<string, Buffer> = {};
  for (const name of await readdir(dir)) files[name] = await readFile(path.join(dir, name));
  return files;
}

/**
 * Keeps the bench's repos in the models ConfigMap (the rest of the config as it is): `add` puts them in when one is
 * missing (other tests' `make deploy` re-applies the overlay's config), `remove` takes them out again.
 */
function modelsConfigEntries(repos: string[]) {
  const edit = async (add: boolean) => {
    const config = parse(await readModelsYaml()) as { models?: Record<string, unknown> };
    const present = Object.keys(config.models ?? {});
    if (add && repos.every((r) => present.includes(r))) return;
    const kept = Object.entries(config.models ?? {}).filter(([repo]) => !repos.includes(repo));
    const added = add ? repos.map((repo) => [repo, { gpu_compatible: ['ALL'], revision: 'main' }]) : [];
    const models = Object.fromEntries([...kept, ...added]) as Record<string, unknown>;
    await editModelsConfig(stringify({ ...config, models }));
  };
  return { add: () => edit(true), remove: () => edit(false) };
}

/** Puts, warms and waits for both models; returns their cells and how to take them out of the models config. */
export async function prepareHfCells(params: {
  models: Record<ModelKey, { dir: string }>;
  serviceName: (model: ModelKey) => string;
}): Promise<{ cells: Cell[]; restore: () => Promise<void> }> {
  await startHubInCluster();
  const keys = Object.keys(params.models) as ModelKey[];
  const commits = new Map<ModelKey, string>();
  for (const model of keys) {
    const state = await putHubRepo(`${ORG}/${model}`, await filesOf(params.models[model].dir));
    commits.set(model, mainCommit(state));
  }
  await pointModelctlAtHub();
  const entries = modelsConfigEntries(keys.map((m) => `${ORG}/${m}`));
  await entries.add();
  for (const model of keys) {
    const repo = `${ORG}/${model}`;
    await waitForPlanned(repo, commits.get(model)!, 300_000);
    log(`hf: ${repo} planned; waiting for the agent to warm it`);
    await waitForReadyNode(repo, 900_000);
  }
  /**
   * before each start (not part of the cold start): warm and the agent still pointed at the stand-in, the model
   * still in the config, and ready on the node; another test's `make deploy` re-applies warm and the config
   */
  const ensure = (repo: string) => async () => {
    await pointModelctlAtHub();
    await entries.add();
    await waitForReadyNode(repo, 900_000);
  };
  const cells = keys.map((model) => ({
    source: 'hf' as const,
    model,
    service: params.serviceName(model),
    hasInit: false,
    ensure: ensure(`${ORG}/${model}`),
    args: [
      ...['--model-uri', `hf://${ORG}/${model}`, '--runtime', 'custom', '--arg=serve'],
      `--arg=--model-local-path=${CACHE_MOUNT}/models--${ORG}--${model}/snapshots/${commits.get(model)!}`,
    ],
  }));
  return { cells, restore: entries.remove };
}
