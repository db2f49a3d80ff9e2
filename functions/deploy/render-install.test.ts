import { describe, expect, it } from '@jest/globals';
import { parse } from 'yaml';
import { cronEvery, renderInstall } from './render-install.js';

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const MODELS_YAML = `# dev
nodeHostPath: /var/lib/modelctl   # dev nodes
cachePath: huggingface/hub
checkIntervalSeconds: 300
imageProxy: registry.dev.example.com/mirror
excludeGpuTypes: [nvidia-tesla-k80]
models: {}
`;

function overlay(modelsYaml = MODELS_YAML): Obj[] {
  const pod = (image: string) => ({ spec: { containers: [{ name: 'c', image }] } });
  return [
    { apiVersion: 'v1', kind: 'Namespace', metadata: { name: 'modelctl-system' } },
    {
      apiVersion: 'v1',
      kind: 'ConfigMap',
      metadata: { name: 'modelctl-models', namespace: 'modelctl-system' },
      data: { 'models.yaml': modelsYaml },
    },
    {
      apiVersion: 'apps/v1',
      kind: 'DaemonSet',
      metadata: { name: 'modelctl-agent', labels: { 'app.kubernetes.io/component': 'agent' } },
      spec: {
        template: {
          spec: {
            containers: [
              {
                name: 'agent',
                image: 'modelctl:0.1.0',
                env: [{ name: 'HF_HUB_CACHE', value: '/mnt/x/huggingface/hub' }],
                volumeMounts: [{ name: 'node-cache', mountPath: '/mnt/x' }],
              },
            ],
            volumes: [{ name: 'node-cache', hostPath: { path: '/mnt/x', type: 'DirectoryOrCreate' } }],
          },
        },
      },
    },
    {
      apiVersion: 'serving.knative.dev/v1',
      kind: 'Service',
      metadata: { name: 'modelctl-warm', labels: { 'app.kubernetes.io/component': 'warm' } },
      spec: { template: pod('modelctl:0.1.0') },
    },
    {
      apiVersion: 'sources.knative.dev/v1',
      kind: 'PingSource',
      metadata: { name: 'modelctl-warm-hourly' },
      spec: { schedule: '7 * * * *' },
    },
  ];
}

const find = (objects: Obj[], kind: string): Obj => objects.find((o) => o.kind === kind)!;
const agentSpec = (objects: Obj[]): Obj => find(objects, 'DaemonSet').spec.template.spec;

describe('renderInstall', () => {
  it('derives the agent’s hostPath, mount, HF_HUB_CACHE and state dir from nodeHostPath/cachePath', () => {
    const spec = agentSpec(renderInstall({ objects: overlay(), overrides: {} }).objects);
    expect(spec.volumes[0].hostPath.path).toBe('/var/lib/modelctl');
    expect(spec.containers[0].volumeMounts[0].mountPath).toBe('/var/lib/modelctl');
    expect(spec.containers[0].env).toEqual([
      { name: 'HF_HUB_CACHE', value: '/var/lib/modelctl/huggingface/hub' },
      { name: 'AGENT_STATE_DIR', value: '/var/lib/modelctl/huggingface/.modelctl-agent' },
    ]);
  });

  it('keeps the agent off the GPU types the config excludes, on both GPU labels', () => {
    const terms = agentSpec(renderInstall({ objects: overlay(), overrides: {} }).objects).affinity.nodeAffinity
      .requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms;
    expect(terms.map((t: Obj) => t.matchExpressions[1])).toEqual([
      { key: 'nvidia.com/gpu.product', operator: 'NotIn', values: ['nvidia-tesla-k80'] },
      { key: 'cloud.google.com/gke-accelerator', operator: 'NotIn', values: ['nvidia-tesla-k80'] },
    ]);
    const none = agentSpec(
      renderInstall({ objects: overlay(MODELS_YAML.replace(/excludeGpuTypes.*\n/, '')), overrides: {} }).objects,
    );
    expect(
      none.affinity.nodeAffinity.requiredDuringSchedulingIgnoredDuringExecution.nodeSelectorTerms[0].matchExpressions,
    ).toHaveLength(1);
  });

  it('writes the --set-style overrides into the models config (comments kept) and renders from the result', () => {
    const { objects } = renderInstall({
      objects: overlay(),
      overrides: {
        IMAGE_PROXY: 'mirror.internal/hub/',
        CHECK_INTERVAL_SECONDS: '7200',
        CONFIG_READ_RETRY_DELAY_SECONDS: '15',
      },
    });
    const text = find(objects, 'ConfigMap').data['models.yaml'] as string;
    expect(text).toContain('# dev nodes');
    expect(parse(text)).toMatchObject({
      imageProxy: 'mirror.internal/hub',
      checkIntervalSeconds: 7200,
      configReadRetryDelaySeconds: 15,
    });
    expect(agentSpec(objects).containers[0].image).toBe('mirror.internal/hub/modelctl:0.1.0');
    expect(find(objects, 'Service').spec.template.spec.containers[0].image).toBe('mirror.internal/hub/modelctl:0.1.0');
    expect(find(objects, 'PingSource').spec.schedule).toBe('7 */2 * * *');
  });

  it('refuses a bad override or a config the agents would refuse, naming it', () => {
    expect(() => renderInstall({ objects: overlay(), overrides: { CHECK_INTERVAL_SECONDS: '5m' } })).toThrow(
      'CHECK_INTERVAL_SECONDS=5m: must be a whole number of seconds above 0',
    );
    expect(() =>
      renderInstall({ objects: overlay(MODELS_YAML.replace('/var/lib/modelctl', 'var/lib')), overrides: {} }),
    ).toThrow(/nodeHostPath: must be an absolute path/);
    expect(() =>
      renderInstall({ objects: overlay(), overrides: { MLFLOW_TRACKING_URI: 'http://u:p@mlflow:5000' } }),
    ).toThrow(/MLFLOW_TRACKING_URI: must be an http\(s\) URL without user:password@/);
  });

  it('records MLFLOW_TRACKING_URI for modelctl deploy and mentions, never prints, HF_TOKEN', () => {
    const { objects, notes } = renderInstall({
      objects: overlay(),
      overrides: { MLFLOW_TRACKING_URI: 'http://mlflow.mlflow:5000', HF_TOKEN: 'hf_secret123' },
    });
    expect(objects.at(-1)).toMatchObject({
      kind: 'ConfigMap',
      metadata: { name: 'modelctl-settings' },
      data: { MLFLOW_TRACKING_URI: 'http://mlflow.mlflow:5000' },
    });
    expect(notes.join('\n')).toContain('Secret modelctl-system/modelctl-hf-token');
    expect(JSON.stringify({ objects, notes })).not.toContain('hf_secret123');
  });

  it('keeps only the namespace, the models ConfigMap and the agent for the warmer alone (no Knative object)', () => {
    const { objects } = renderInstall({ objects: overlay(), overrides: {}, warmerOnly: true });
    expect(objects.map((o) => o.kind)).toEqual(['Namespace', 'ConfigMap', 'DaemonSet']);
  });
});

describe('cronEvery', () => {
  it('fires about every checkIntervalSeconds, at the minute', () => {
    expect([60, 300, 3600, 7200, 86400].map(cronEvery)).toEqual([
      '* * * * *',
      '*/5 * * * *',
      '7 * * * *',
      '7 */2 * * *',
      '7 0 * * *',
    ]);
  });
});
