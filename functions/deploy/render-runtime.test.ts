import { describe, expect, it } from '@jest/globals';
import { spawnSync } from 'node:child_process';
import { mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DeployOptions, type DeployOptionsInput } from './deploy-options.js';
import { chooseCacheScript } from './render-runtime.js';
import { renderService, type DeployFacts } from './render-service.js';

const COMMIT = '0123456789abcdef0123456789abcdef01234567';
const base: DeployOptionsInput = {
  serveName: 'qwen',
  modelUri: 'hf://Qwen/Qwen2.5-0.5B-Instruct',
  runtime: 'vllm',
  namespace: 'llm',
  gpu: '2',
};
const planFacts: DeployFacts = {
  commit: COMMIT,
  revision: 'main',
  nodeHostPath: '/var/lib/modelctl',
  cachePath: 'huggingface/hub',
};

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function render(extra: Partial<Record<keyof DeployOptionsInput, unknown>> = {}, facts: DeployFacts = planFacts): Obj {
  return renderService(DeployOptions.parse({ ...base, ...extra }), facts) as Obj;
}
const spec = (s: Obj): Obj => s.spec.template.spec as Obj;
const server = (s: Obj): Obj => spec(s).containers[0] as Obj;
const envOf = (c: Obj): Record<string, unknown> =>
  Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value ?? e.valueFrom]));

describe('renderService with an LLM runtime', () => {
  it('runs vLLM on the warmed model at the commit the plan resolved, with the shared flags first-class', () => {
    const s = render({
      maxModelLen: '8192',
      dtype: 'bfloat16',
      servedModelName: 'qwen-chat',
      arg: ['--enforce-eager'],
    });
    expect(server(s).args).toEqual([
      '--model', 'Qwen/Qwen2.5-0.5B-Instruct', '--revision', COMMIT, '--port', '8080',
      '--tensor-parallel-size', '2', '--max-model-len', '8192', '--dtype', 'bfloat16',
      '--served-model-name', 'qwen-chat', '--enforce-eager',
    ]); // prettier-ignore
    expect(server(s).image).toBe('vllm/vllm-openai:v0.11.0');
    expect(server(s).command).toBeUndefined();
  });

  it('runs TGI with its launcher flags: shards = GPUs, max total tokens = max model length', () => {
    const s = render({ runtime: 'tgi', maxModelLen: '4096', dtype: 'float16' });
    expect(server(s).args).toEqual([
      '--model-id', 'Qwen/Qwen2.5-0.5B-Instruct', '--revision', COMMIT, '--port', '8080',
      '--num-shard', '2', '--max-total-tokens', '4096', '--dtype', 'float16',
    ]); // prettier-ignore
    expect(envOf(server(s))).toMatchObject({ HF_HUB_CACHE: '/data/hub', HUGGINGFACE_HUB_CACHE: '/data/hub' });
  });

  it('gives a custom image the model through the environment and only its own args, on its port', () => {
    const s = render({
      runtime: 'custom',
      image: 'me/llm:1',
      port: '9000',
      arg: ['--threads', '2'],
      readinessPath: '/ready',
    });
    const c = server(s);
    expect(c.args).toEqual(['--threads', '2']);
    expect(c.ports).toEqual([{ name: 'http1', containerPort: 9000 }]);
    expect(envOf(c)).toMatchObject({
      MODEL_ID: 'Qwen/Qwen2.5-0.5B-Instruct',
      MODEL_REVISION: COMMIT,
      SERVED_MODEL_NAME: 'Qwen/Qwen2.5-0.5B-Instruct',
      HF_HUB_CACHE: '/hf-cache',
      HF_HUB_OFFLINE: '1',
    });
    expect(c.readinessProbe.httpGet).toEqual({ path: '/ready' });
    expect(c.startupProbe.httpGet).toEqual({ path: '/ready', port: 9000 });
  });

  it('reads the node cache read-only and offline, with no init container copying anything', () => {
    const s = render();
    expect(spec(s).initContainers).toBeUndefined();
    expect(spec(s).containers).toHaveLength(1);
    expect(spec(s).volumes).toContainEqual({
      name: 'hf-cache',
      hostPath: { path: '/var/lib/modelctl/huggingface/hub', type: 'Directory' },
    });
    expect(server(s).volumeMounts).toContainEqual({
      name: 'hf-cache',
      mountPath: '/root/.cache/huggingface/hub',
      readOnly: true,
    });
    expect(envOf(server(s))).toMatchObject({ HF_HUB_CACHE: '/root/.cache/huggingface/hub', HF_HUB_OFFLINE: '1' });
  });

  it('requests the GPUs, tolerates their taint and requires a node whose agent reports the model ready', () => {
    const s = render({ gpuType: 'nvidia-l4' });
    expect(server(s).resources.limits['nvidia.com/gpu']).toBe('2');
    expect(spec(s).tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
    expect(spec(s).nodeSelector).toEqual({ 'cloud.google.com/gke-accelerator': 'nvidia-l4' });
    expect(spec(s).affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms).toEqual([
      { matchExpressions: [{ key: 'models.modelctl.dev/Qwen--Qwen2.5-0.5B-Instruct', operator: 'Exists' }] },
    ]);
  });

  it('sizes the startup probe for model load and keeps scale to zero on the revision template', () => {
    const s = render({ modelSize: '16' });
    expect(server(s).startupProbe).toEqual({
      httpGet: { path: '/health', port: 8080 },
      periodSeconds: 1,
      failureThreshold: 1560,
    });
    expect(server(s).readinessProbe).toEqual({ httpGet: { path: '/health' } });
    expect(s.spec.template.metadata.annotations).toMatchObject({
      'autoscaling.knative.dev/min-scale': '0',
      'serving.knative.dev/progress-deadline': '1560s',
    });
  });

  it('names the model and commit on the revision template, for the agent that must keep them', () => {
    const meta = render().spec.template.metadata;
    expect(meta.annotations).toMatchObject({
      'modelctl.dev/hf-repo': 'Qwen/Qwen2.5-0.5B-Instruct',
      'modelctl.dev/hf-commit': COMMIT,
    });
    expect(meta.labels['modelctl.dev/runtime']).toBe('vllm');
  });

  it("puts the default image behind the models config's imageProxy, never a given --image", () => {
    expect(server(render({}, { ...planFacts, imageProxy: 'registry.example.com/mirror' })).image).toBe(
      'registry.example.com/mirror/vllm/vllm-openai:v0.11.0',
    );
    expect(server(render({ image: 'mine/vllm:1' }, { ...planFacts, imageProxy: 'r.example/m' })).image).toBe(
      'mine/vllm:1',
    );
  });

  it('pins a URI that names a commit without any plan, and refuses an unpinned one without a plan', () => {
    expect(server(render({ modelUri: `hf://gpt2@${COMMIT}` }, {})).args.slice(0, 4)).toEqual([
      '--model', 'gpt2', '--revision', COMMIT,
    ]); // prettier-ignore
    expect(() => render({}, {})).toThrow(/no commit to pin.*hf:\/\/Qwen\/Qwen2.5-0.5B-Instruct@<40-hex commit>/);
  });

  it('under preferred affinity chooses the cache per node before the runtime starts', () => {
    const s = render({ nodeAffinity: 'preferred' });
    const c = server(s);
    expect(c.command.slice(0, 2)).toEqual(['/bin/sh', '-c']);
    expect(c.args.slice(0, 4)).toEqual(['vllm', 'serve', '--model', 'Qwen/Qwen2.5-0.5B-Instruct']);
    expect(envOf(c).HF_HUB_OFFLINE).toBeUndefined();
    expect(spec(s).volumes).toContainEqual({ name: 'hf-download', emptyDir: {} });
  });
});

describe('chooseCacheScript', () => {
  const run = (cacheDir: string): { env: string; stderr: string } => {
    const script = chooseCacheScript({ repo: 'org/name', commit: COMMIT, cacheDir }, 'main');
    const result = spawnSync('/bin/sh', ['-c', script, 'x', 'sh', '-c', 'echo "$HF_HUB_CACHE $HF_HUB_OFFLINE"'], {
      encoding: 'utf8',
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', HF_HUB_CACHE: cacheDir },
    });
    return { env: result.stdout.trim(), stderr: result.stderr };
  };

  it('stays offline on the node cache when its ref names the pinned commit (written last by the agent)', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'warm-'));
    mkdirSync(path.join(dir, 'models--org--name/refs'), { recursive: true });
    writeFileSync(path.join(dir, 'models--org--name/refs/main'), COMMIT);
    expect(run(dir).env).toBe(`${dir} 1`);
  });

  it('downloads into the pod when the node does not have that commit, and says so', () => {
    const dir = mkdtempSync(path.join(tmpdir(), 'cold-'));
    mkdirSync(path.join(dir, 'models--org--name/refs'), { recursive: true });
    writeFileSync(path.join(dir, 'models--org--name/refs/main'), 'f'.repeat(40));
    const { env, stderr } = run(dir);
    expect(env).toBe('/hf-download');
    expect(stderr).toContain(`org/name@${COMMIT} is not warm on this node`);
  });
});
