import { beforeAll, describe, expect, it } from '@jest/globals';
import { parseModelsConfig } from '../shared/config/models-config.js';
import { buildPlan, serializePlan, type PlanModel } from '../shared/plan/plan.js';
import { modelctl } from './golden/deploy-cases.js';
import { createTestNamespace, kubePeer, runKubectl } from '../testkit/kube-helpers.js';

/**
 * `modelctl deploy` finding what the flags leave out in the cluster (the real kube-apiserver of the testing
 * ground, Knative CRDs installed): the warm plan's commit and cache settings for hf:// runtimes, the tracking URI
 * `make deploy` recorded for MLflow models, and whether any node has the model warm.
 */

const COMMIT = '1111111111111111111111111111111111111111';
let ns: string;
let system: string;
const kubeconfig = (): string[] => ['--kubeconfig', kubePeer().kubeconfig];
/** deploy's environment: no MLFLOW_TRACKING_URI of the user's shell leaks in */
const env = (extra: Record<string, string> = {}): NodeJS.ProcessEnv => {
  const copy = { ...process.env, ...extra };
  if (!('MLFLOW_TRACKING_URI' in extra)) delete copy.MLFLOW_TRACKING_URI;
  return copy;
};

async function modelctlFails(args: string[], environment: NodeJS.ProcessEnv): Promise<string> {
  const err = await modelctl(args, environment).then(
    () => null,
    (e: { code?: number; stderr?: string }) => e,
  );
  expect(err).not.toBeNull();
  expect(err!.code).toBe(1);
  return err!.stderr ?? '';
}

async function applyJson(object: unknown): Promise<void> {
  expect(await runKubectl(['apply', '-f', '-'], { stdin: JSON.stringify(object) })).toMatchObject({ code: 0 });
}

function plannedModel(repo: string, status: PlanModel['status'] = 'ok'): PlanModel {
  return {
    repo,
    revision: 'main',
    commit: status === 'ok' ? COMMIT : null,
    files: [],
    totalBytes: 0,
    allowPatterns: null,
    ignorePatterns: null,
    gpuCompatible: ['ALL'],
    status,
    ...(status === 'ok' ? {} : { message: 'repository not found' }),
  };
}

beforeAll(async () => {
  ns = await createTestNamespace('deploy-rt');
  system = await createTestNamespace('deploy-rt-system');
  const config = parseModelsConfig(
    'nodeHostPath: /var/lib/modelctl\ncachePath: hf/hub\nimageProxy: registry.example.com/mirror\n',
  );
  const plan = buildPlan({
    config,
    models: [plannedModel('Qwen/Qwen2.5-0.5B-Instruct'), plannedModel('gpt2'), plannedModel('org/gone', 'not-found')],
    source: { namespace: system, name: 'modelctl-models' },
  });
  await applyJson({
    apiVersion: 'v1',
    kind: 'ConfigMap',
    metadata: { name: 'modelctl-plan', namespace: system },
    data: { 'plan.json': serializePlan(plan) },
  });
});

describe('modelctl deploy --runtime vllm|tgi|custom against the warm plan', () => {
  const deploy = (model: string, ...extra: string[]): string[] => [
    'deploy', '--serve-name', 'llm', '--model-uri', model, '--namespace', ns, '--plan-namespace', system,
    ...kubeconfig(), ...extra,
  ]; // prettier-ignore

  it('pins the revision to the commit the plan resolved and reads the cache where the models config puts it', async () => {
    const { stdout } = await modelctl(
      deploy('hf://Qwen/Qwen2.5-0.5B-Instruct', '--runtime', 'vllm', '--gpu', '1', '--dry-run=server', '-o', 'json'),
      env(),
    );
    const service = JSON.parse(stdout);
    const pod = service.spec.template.spec;
    expect(pod.containers[0].args.slice(0, 4)).toEqual(['--model', 'Qwen/Qwen2.5-0.5B-Instruct', '--revision', COMMIT]);
    expect(pod.containers[0].image).toBe('registry.example.com/mirror/vllm/vllm-openai:v0.11.0');
    expect(pod.volumes[0]).toEqual({
      name: 'hf-cache',
      hostPath: { path: '/var/lib/modelctl/hf/hub', type: 'Directory' },
    });
    // the API server accepted and defaulted it (server-side dry run), and kept nothing
    expect(service.metadata.uid).toBeDefined();
    const list = await runKubectl(['get', 'services.serving.knative.dev', '-n', ns, '-o', 'name']);
    expect(list.stdout).toBe('');
  });

  it('serves a Hub id without an org (gpt2) on TGI', async () => {
    const { stdout } = await modelctl(deploy('hf://gpt2', '--runtime', 'tgi', '--dry-run=server', '-o', 'json'), env());
    const pod = JSON.parse(stdout).spec.template.spec;
    expect(pod.containers[0].args.slice(0, 4)).toEqual(['--model-id', 'gpt2', '--revision', COMMIT]);
    expect(pod.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0]).toEqual({
      matchExpressions: [{ key: 'models.modelctl.dev/gpt2', operator: 'Exists' }],
    });
  });

  it('refuses a model the plan does not hold or could not resolve, saying how to fix it', async () => {
    expect(await modelctlFails(deploy('hf://org/unknown', '--runtime', 'vllm'), env())).toContain(
      'hf://org/unknown: the warm plan has no org/unknown: add it to the models config; or pin a commit',
    );
    expect(await modelctlFails(deploy('hf://org/gone', '--runtime', 'vllm'), env())).toContain(
      'the warm plan could not resolve org/gone: not-found (repository not found)',
    );
  });

  it('warns when no node has the model warm (its pods would stay Pending), and not once one has', async () => {
    const node = `rt-node-${ns}`;
    await applyJson({ apiVersion: 'v1', kind: 'Node', metadata: { name: node } });
    const first = await modelctl(deploy('hf://gpt2', '--runtime', 'tgi'), env());
    expect(first.stderr).toContain(
      'warning: no node has gpt2 warm (label models.modelctl.dev/gpt2): its pods stay Pending (Revision Unschedulable)',
    );
    await runKubectl(['label', 'node', node, 'models.modelctl.dev/gpt2=ready']);
    const second = await modelctl(deploy('hf://gpt2', '--runtime', 'tgi'), env());
    expect(second.stderr).not.toContain('warning');
    await runKubectl(['delete', 'node', node]);
  });
});

describe('modelctl deploy as the seed typed it (no --mlflow-tracking-uri)', () => {
  const typed = (namespace: string): string[] => [
    'deploy', '--serve-name', 'my-model', '--model-uri', 'models:/my-model/Production', '--artifact-version', 'v1',
    '--cores', '4', '--memory', '8', '--namespace', namespace, '--plan-namespace', namespace, ...kubeconfig(),
  ]; // prettier-ignore

  it('says where to set the tracking URI when neither the environment nor the cluster has one', async () => {
    const empty = await createTestNamespace('deploy-typed-none');
    const stderr = await modelctlFails(typed(empty), env());
    expect(stderr).toContain('pass --mlflow-tracking-uri http://…, or set MLFLOW_TRACKING_URI');
    expect(stderr).toContain(`\`make deploy MLFLOW_TRACKING_URI=http://…\` (ConfigMap ${empty}/modelctl-settings)`);
  });

  it('takes the tracking URI `make deploy` recorded in the cluster, and MLFLOW_TRACKING_URI over it', async () => {
    const recorded = await createTestNamespace('deploy-typed');
    await applyJson({
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'modelctl-settings', namespace: recorded },
      data: { MLFLOW_TRACKING_URI: 'http://mlflow.recorded:5000' },
    });
    const fromCluster = JSON.parse(
      (await modelctl([...typed(recorded), '--dry-run=server', '-o', 'json'], env())).stdout,
    );
    const uriOf = (s: {
      spec: { template: { spec: { containers: { env: { name: string; value?: string }[] }[] } } };
    }) => s.spec.template.spec.containers[0]!.env.find((e) => e.name === 'MLFLOW_TRACKING_URI')?.value;
    expect(uriOf(fromCluster)).toBe('http://mlflow.recorded:5000');
    const fromEnv = JSON.parse(
      (
        await modelctl(
          [...typed(recorded), '--dry-run=server', '-o', 'json'],
          env({ MLFLOW_TRACKING_URI: 'http://mlflow.env:5000' }),
        )
      ).stdout,
    );
    expect(uriOf(fromEnv)).toBe('http://mlflow.env:5000');
    // and for real: created as typed
    expect((await modelctl(typed(recorded), env())).stdout).toBe('service.serving.knative.dev/my-model created\n');
  });
});
