import { beforeAll, describe, expect, it } from '@jest/globals';
import { readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { GOLDEN_CASES, modelctl } from './golden/deploy-cases.js';

/**
 * Golden files of `modelctl deploy --dry-run`: the exact Service a user gets for each storage strategy and
 * model URI kind, through the built CLI (`make build`). A change to the rendering shows up as a diff here;
 * after reviewing it, `UPDATE_GOLDEN=1 npm run test:integration -- deploy-golden` rewrites the files.
 * That the API server's schema accepts each of them is checked in deploy-kube.test.ts.
 */

const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const goldenDir = path.join(repoRoot, 'test/golden');

/** A rewrite compares each file with itself: a reviewed, local act, refused where CI runs (CI=true). */
const updateGolden = Boolean(process.env.UPDATE_GOLDEN);
const inCi = !['', '0', 'false'].includes((process.env.CI ?? '').toLowerCase());

describe('modelctl deploy --dry-run (golden)', () => {
  beforeAll(() => {
    if (updateGolden && inCi)
      throw new Error('UPDATE_GOLDEN is refused under CI: review and rewrite the files locally');
  });

  it.each(Object.keys(GOLDEN_CASES))('renders %s exactly as the golden file', async (name) => {
    // no cluster to read: the as-typed case takes its tracking URI from the environment
    const env = { ...process.env, KUBECONFIG: '/nonexistent', MLFLOW_TRACKING_URI: 'http://mlflow.mlflow:5000' };
    const { stdout } = await modelctl(['deploy', ...GOLDEN_CASES[name]!, '--dry-run'], env);
    const file = path.join(goldenDir, `deploy-${name}.yaml`);
    if (updateGolden) writeFileSync(file, stdout);
    expect(stdout).toBe(readFileSync(file, 'utf8'));
  });

  it('prints the same Service as JSON with -o json', async () => {
    const args = ['deploy', ...GOLDEN_CASES['mlflow-stage-emptydir']!, '--dry-run'];
    const [{ stdout: yamlText }, { stdout: jsonText }] = await Promise.all([
      modelctl(args),
      modelctl([...args, '-o', 'json']),
    ]);
    const { parse } = await import('yaml');
    expect(JSON.parse(jsonText)).toEqual(parse(yamlText));
  });

  it('never writes a credential value into the Service', async () => {
    const { stdout } = await modelctl(['deploy', ...GOLDEN_CASES['mlflow-run-pvc']!, '--dry-run']);
    expect(stdout).toMatch(/secretKeyRef:\n\s+name: mlflow-credentials\n\s+key: MLFLOW_TRACKING_PASSWORD/);
    expect(stdout).not.toMatch(/name: MLFLOW_TRACKING_(PASSWORD|TOKEN|USERNAME)\n\s+value:/);
  });
});
