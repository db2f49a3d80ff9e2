import { describe, expect, it } from '@jest/globals';
import { ApiException } from '@kubernetes/client-node';
import { diffObjects, translateKubeError } from './apply-object.js';

const ref = { apiVersion: 'serving.knative.dev/v1', kind: 'Service', name: 'qwen', namespace: 'llm' };

/** A Status body as the API server relays a Knative admission webhook denial (HTTP 400). */
function webhookDenial(message: string): ApiException<unknown> {
  return new ApiException(
    400,
    'Unsuccessful HTTP Request',
    { kind: 'Status', status: 'Failure', reason: 'BadRequest', code: 400, message },
    {},
  );
}

describe('translateKubeError', () => {
  // The webhook does not run in the testing ground; these messages are Knative's own (knative/serving
  // pkg/apis/serving/k8s_validation.go), as users have reported them.
  it('names the config-features flags when the Knative webhook refuses gated fields', () => {
    const err = translateKubeError(
      webhookDenial(
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: validation failed: must not set the field(s): spec.template.spec.affinity, spec.template.spec.initContainers, spec.template.spec.volumes[2].hostPath\npod spec support for init-containers is off, but found 1 init containers',
      ),
      { verb: 'apply', ref },
    );
    expect(err.code).toBe('FEATURE_DISABLED');
    expect(err.message.split('\n')[0]).toBe(
      'Knative refused the pod spec: enable kubernetes.podspec-init-containers, kubernetes.podspec-volumes-hostpath, kubernetes.podspec-affinity in ConfigMap config-features (namespace knative-serving); `make deploy` applies knative/features/config-features.yaml',
    );
  });

  it('recognises the emptyDir flag being off', () => {
    const err = translateKubeError(
      webhookDenial(
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: validation failed: EmptyDir volume support is off, but found EmptyDir volume model',
      ),
      { verb: 'apply', ref },
    );
    expect(err.code).toBe('FEATURE_DISABLED');
    expect(err.message).toContain('enable kubernetes.podspec-volumes-emptydir');
  });

  it('asks for a new artifact version when the template changed under the same revision name', () => {
    const err = translateKubeError(
      webhookDenial(
        'admission webhook "validation.webhook.serving.knative.dev" denied the request: validation failed: Saw the following changes without a name change (-old +new): spec.template.metadata.name\n{*v1.RevisionTemplateSpec}.Spec.PodSpec.Containers[0].Resources',
      ),
      { verb: 'apply', ref },
    );
    expect(err.code).toBe('REVISION_NAME_UNCHANGED');
    expect(err.message).toMatch(/pass a new --artifact-version/);
  });

  it('says the API server is unreachable, naming the cause, for connection errors', () => {
    const err = translateKubeError(
      new Error('request to https://10.0.0.1:6443/apis failed, reason: connect ECONNREFUSED 10.0.0.1:6443'),
      { verb: 'apply', ref },
    );
    expect(err.code).toBe('KUBE_UNREACHABLE');
    expect(err.message).toMatch(/cannot reach the Kubernetes API server to apply Service llm\/qwen: .*ECONNREFUSED/);
  });
});

describe('diffObjects', () => {
  it('lists changed label, annotation and spec paths, and ignores server-managed metadata', () => {
    const before = {
      apiVersion: 'v1',
      kind: 'X',
      metadata: { resourceVersion: '1', labels: { a: '1' } },
      spec: { n: 1, list: [1, 2], same: { x: 1 } },
    };
    const after = {
      apiVersion: 'v1',
      kind: 'X',
      metadata: { resourceVersion: '2', labels: { a: '2' }, annotations: { b: 'x' } },
      spec: { n: 2, list: [1, 3], same: { x: 1 } },
    };
    expect(diffObjects(before, after)).toEqual(['metadata.annotations.b', 'metadata.labels.a', 'spec.list', 'spec.n']);
    expect(diffObjects(before, before)).toEqual([]);
  });
});
