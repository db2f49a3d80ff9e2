import { describe, expect, it } from '@jest/globals';
import { DeployOptions, type DeployOptionsInput } from './deploy-options.js';
import { cpuQuantity, memoryQuantity, progressDeadline, renderService } from './render-service.js';

const base: DeployOptionsInput = {
  serveName: 'my-model',
  modelUri: 'models:/my-model/Production',
  artifactVersion: 'v1',
  cores: '4',
  memory: '8',
  namespace: 'ml',
  mlflowTrackingUri: 'http://mlflow.ml:5000',
};

function render(extra: Partial<Record<keyof DeployOptionsInput, unknown>> = {}) {
  return renderService(DeployOptions.parse({ ...base, ...extra }));
}

type Obj = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

function podSpec(service: ReturnType<typeof renderService>): Obj {
  return (service.spec as Obj).template.spec as Obj;
}

function container(service: ReturnType<typeof renderService>, name: 'model-downloader' | 'model-server'): Obj {
  const spec = podSpec(service);
  return [...spec.initContainers, ...spec.containers].find((c: Obj) => c.name === name);
}

function envOf(c: Obj): Record<string, unknown> {
  return Object.fromEntries((c.env as Obj[]).map((e) => [e.name, e.value ?? e.valueFrom]));
}

describe('renderService', () => {
  it('runs fetch as the init container and serve as the main container of the same image', () => {
    const service = render({ image: 'registry.example.com/modelctl:1.2.3' });
    const spec = podSpec(service);
    expect(spec.initContainers.map((c: Obj) => [c.name, c.args, c.image])).toEqual([
      ['model-downloader', ['fetch'], 'registry.example.com/modelctl:1.2.3'],
    ]);
    expect(spec.containers.map((c: Obj) => [c.name, c.args])).toEqual([['model-server', ['serve']]]);
  });

  it('picks the python image for the pyfunc runtime, the same init/serve pair otherwise', () => {
    const spec = podSpec(render({ runtime: 'pyfunc' }));
    expect([...spec.initContainers, ...spec.containers].map((c: Obj) => c.image)).toEqual([
      expect.stringMatching(/^modelctl:.+-python$/),
      expect.stringMatching(/^modelctl:.+-python$/),
    ]);
    expect(podSpec(render()).containers[0].image).toMatch(/^modelctl:[^-]+$/);
  });

  it('takes the tracking URI found outside the flags (environment, cluster record)', () => {
    const service = renderService(DeployOptions.parse({ ...base, mlflowTrackingUri: undefined }), {
      mlflowTrackingUri: 'http://recorded:5000',
    });
    expect(envOf(container(service, 'model-downloader')).MLFLOW_TRACKING_URI).toBe('http://recorded:5000');
  });

  it('hands the model over in place: fetch writes /models, serve reads /models/model read-only', () => {
    const service = render();
    expect(envOf(container(service, 'model-downloader'))).toMatchObject({
      MODEL_URI: 'models:/my-model/Production',
      OUTPUT_PATH: '/models',
      STORAGE_STRATEGY: 'emptydir',
    });
    expect(envOf(container(service, 'model-server'))).toMatchObject({ MODEL_LOCAL_PATH: '/models/model' });
    expect(container(service, 'model-server').volumeMounts).toContainEqual({
      name: 'model',
      mountPath: '/models',
      readOnly: true,
    });
    expect(container(service, 'model-downloader').volumeMounts).toContainEqual({
      name: 'model',
      mountPath: '/models',
      readOnly: false,
    });
  });

  it('puts the scale annotations on the revision template, never on the Service', () => {
    const service = render({ minScale: '1', maxScale: '5', initialScale: '2', scaleToZeroRetention: '10m' });
    const annotations = (service.spec as Obj).template.metadata.annotations;
    expect(annotations).toMatchObject({
      'autoscaling.knative.dev/min-scale': '1',
      'autoscaling.knative.dev/max-scale': '5',
      'autoscaling.knative.dev/initial-scale': '2',
      'autoscaling.knative.dev/scale-to-zero-pod-retention-period': '10m',
    });
    expect(Object.keys(service.metadata.annotations ?? {}).filter((k) => k.startsWith('autoscaling'))).toEqual([]);
  });

  it('scales to zero by default', () => {
    expect((render().spec as Obj).template.metadata.annotations['autoscaling.knative.dev/min-scale']).toBe('0');
  });

  it('names and labels the revision after the artifact version, so traffic can be split by revision', () => {
    const meta = (render({ artifactVersion: 'V2.1_rc' }).spec as Obj).template.metadata;
    expect(meta.name).toBe('my-model-v2-1-rc');
    expect(meta.labels['modelctl.dev/artifact-version']).toBe('V2.1_rc');
  });

  it('leaves the revision name to Knative when no artifact version is given', () => {
    expect((render({ artifactVersion: undefined }).spec as Obj).template.metadata.name).toBeUndefined();
  });

  it('references MLflow credentials in a Secret and never carries their values', () => {
    const service = render({ mlflowSecret: 'mlflow-creds', mlflowTrackingUri: 'http://mlflow.ml:5000' });
    for (const name of ['model-downloader', 'model-server'] as const) {
      const env = container(service, name).env as Obj[];
      const password = env.find((e) => e.name === 'MLFLOW_TRACKING_PASSWORD');
      expect(password).toEqual({
        name: 'MLFLOW_TRACKING_PASSWORD',
        valueFrom: { secretKeyRef: { name: 'mlflow-creds', key: 'MLFLOW_TRACKING_PASSWORD', optional: true } },
      });
      expect(envOf(container(service, name)).MLFLOW_TRACKING_URI).toBe('http://mlflow.ml:5000');
    }
  });

  it('requests and limits the cores and GiB it is given, and GPUs on the serving container only', () => {
    const service = render({ cores: '0.5', memory: '1.5', gpu: '2', gpuType: 'nvidia-l4' });
    expect(container(service, 'model-server').resources).toEqual({
      requests: { cpu: '500m', memory: '1536Mi' },
      limits: { cpu: '500m', memory: '1536Mi', 'nvidia.com/gpu': '2' },
    });
    expect(container(service, 'model-downloader').resources.limits['nvidia.com/gpu']).toBeUndefined();
    expect(podSpec(service).nodeSelector).toEqual({ 'cloud.google.com/gke-accelerator': 'nvidia-l4' });
    expect(podSpec(service).tolerations).toEqual([{ key: 'nvidia.com/gpu', operator: 'Exists', effect: 'NoSchedule' }]);
  });

  it('probes readiness and liveness on the serve routes without naming a port (Knative forbids another one)', () => {
    const serve = container(render(), 'model-server');
    expect(serve.readinessProbe.httpGet).toEqual({ path: '/health/readiness' });
    expect(serve.livenessProbe.httpGet).toEqual({ path: '/health/liveness' });
  });

  it('mounts the shared cache PVC in both containers for the pvc strategy, writable only for fetch', () => {
    const service = render({ storage: 'pvc', cachePvc: 'team-cache' });
    expect(podSpec(service).volumes).toContainEqual({
      name: 'model-cache',
      persistentVolumeClaim: { claimName: 'team-cache' },
    });
    expect(container(service, 'model-downloader').volumeMounts).toContainEqual({
      name: 'model-cache',
      mountPath: '/model-cache',
      readOnly: false,
    });
    expect(container(service, 'model-server').volumeMounts).toContainEqual({
      name: 'model-cache',
      mountPath: '/model-cache',
      readOnly: true,
    });
    expect(envOf(container(service, 'model-downloader'))).toMatchObject({
      STORAGE_STRATEGY: 'pvc',
      CACHE_PATH: '/model-cache',
    });
    expect(service.metadata.annotations?.['modelctl.dev/required-features']).toContain(
      'kubernetes.podspec-persistent-volume-write',
    );
  });

  it('runs both containers as non-root with a read-only root filesystem', () => {
    for (const name of ['model-downloader', 'model-server'] as const) {
      expect(container(render(), name).securityContext).toMatchObject({
        runAsNonRoot: true,
        readOnlyRootFilesystem: true,
        allowPrivilegeEscalation: false,
      });
      expect(container(render(), name).volumeMounts).toContainEqual({ name: 'tmp', mountPath: '/tmp' });
    }
  });

  it('lists exactly the config-features flags the pod spec uses', () => {
    expect(render().metadata.annotations?.['modelctl.dev/required-features']).toBe(
      'kubernetes.podspec-init-containers,kubernetes.podspec-volumes-emptydir',
    );
    expect(
      render({ modelUri: `hf://org/name@${'a'.repeat(40)}`, runtime: 'vllm', gpu: '1', gpuType: 't4' }).metadata
        .annotations?.['modelctl.dev/required-features'],
    ).toBe(
      'kubernetes.podspec-affinity,kubernetes.podspec-nodeselector,kubernetes.podspec-tolerations,kubernetes.podspec-volumes-emptydir,kubernetes.podspec-volumes-hostpath',
    );
  });

  it('refuses a model URI of an unknown kind, naming the accepted ones', () => {
    expect(() => render({ modelUri: 'ftp://x/y' })).toThrow(/expected models:\/.*hf:\/\//);
    expect(() => render({ modelUri: 'hf://../etc', runtime: 'vllm' })).toThrow(/hf:\/\/\.\.\/etc/);
  });

  it('refuses what fetch would refuse in the pod, and a local path (one model-URI grammar)', () => {
    for (const modelUri of ['models:/iris', 'runs:/a b/model', 'mlflow-artifacts:/1/../../x', '/models/iris'])
      expect(() => render({ modelUri })).toThrow(expect.objectContaining({ code: 'INVALID_MODEL_URI' }));
    expect(() => render({ modelUri: 'hf://org--x/name', runtime: 'vllm' })).toThrow(/must not contain "--"/);
  });
});

describe('progressDeadline', () => {
  it('gives Knative’s 600 s plus a minute per GiB of model', () => {
    expect(progressDeadline({ modelSize: 14.2 })).toBe('1500s');
    expect(progressDeadline({})).toBe('1200s');
    expect(progressDeadline({ modelSize: 1, progressDeadline: '45m' })).toBe('45m');
  });
});

describe('cpuQuantity / memoryQuantity', () => {
  it('writes whole numbers plainly and fractions in milli-cores and MiB', () => {
    expect([cpuQuantity(4), cpuQuantity(0.25), memoryQuantity(8), memoryQuantity(0.5)]).toEqual([
      '4',
      '250m',
      '8Gi',
      '512Mi',
    ]);
  });
});
