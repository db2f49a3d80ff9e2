import {
  ApiException,
  KubernetesObjectApi,
  PatchStrategy,
  type KubeConfig,
  type KubernetesObject,
} from '@kubernetes/client-node';
import { AppError } from '../errors/app-error.js';

/** What {@link applyObject} did to the object. */
export interface ApplyResult {
  action: 'created' | 'configured' | 'unchanged';
  /** dotted paths under metadata.labels/annotations and spec whose value changed, sorted */
  changes: string[];
  /** the object as the API server returned it */
  object: KubernetesObject;
}

/** The identity of an object to read. */
export interface ObjectRef {
  apiVersion: string;
  kind: string;
  name: string;
  namespace?: string;
}

/**
 * Server-side apply of `object` under `fieldManager` (`PATCH` with `application/apply-patch+yaml`): creates it
 * when missing, updates the fields this manager owns otherwise, so re-running is safe. Reads the object first
 * to report what changed.
 * @throws AppError translated by {@link translateKubeError}: CRD_MISSING, FORBIDDEN, INVALID_OBJECT,
 *   FEATURE_DISABLED, REVISION_NAME_UNCHANGED, FIELD_CONFLICT, KUBE_UNREACHABLE, KUBE_ERROR
 */
export async function applyObject(params: {
  kubeConfig: KubeConfig;
  object: KubernetesObject;
  /** recorded in managedFields; re-applying with the same manager takes over its own fields */
  fieldManager: string;
  /** server-side dry run: validated and defaulted by the API server (and admission), not persisted */
  dryRun?: boolean;
  /** take over fields another manager owns instead of failing with a conflict */
  force?: boolean;
}): Promise<ApplyResult> {
  const api = KubernetesObjectApi.makeApiClient(params.kubeConfig);
  const ref = objectRef(params.object);
  const before = await readWith(api, ref);
  let after: KubernetesObject;
  try {
    after = await api.patch(
      structuredClone(params.object),
      undefined,
      params.dryRun ? 'All' : undefined,
      params.fieldManager,
      params.force ?? false,
      PatchStrategy.ServerSideApply,
    );
  } catch (err) {
    throw translateKubeError(err, { verb: 'apply', ref });
  }
  if (before === null) return { action: 'created', changes: [], object: after };
  const changes = diffObjects(before, after);
  return { action: changes.length === 0 ? 'unchanged' : 'configured', changes, object: after };
}

/**
 * Reads one object.
 * @returns the object, or null when it does not exist
 * @throws AppError (see {@link translateKubeError}) for anything else, e.g. a missing CRD or no permission
 */
export async function readObject(params: { kubeConfig: KubeConfig; ref: ObjectRef }): Promise<KubernetesObject | null> {
  return readWith(KubernetesObjectApi.makeApiClient(params.kubeConfig), params.ref);
}

async function readWith(api: KubernetesObjectApi, ref: ObjectRef): Promise<KubernetesObject | null> {
  try {
    return await api.read({
      apiVersion: ref.apiVersion,
      kind: ref.kind,
      metadata: { name: ref.name, ...(ref.namespace === undefined ? {} : { namespace: ref.namespace }) },
    });
  } catch (err) {
    if (err instanceof ApiException && err.code === 404 && !isDiscoveryFailure(err)) return null;
    throw translateKubeError(err, { verb: 'get', ref });
  }
}

function objectRef(object: KubernetesObject): ObjectRef {
  return {
    apiVersion: object.apiVersion ?? 'v1',
    kind: object.kind ?? '',
    name: object.metadata?.name ?? '',
    ...(object.metadata?.namespace === undefined ? {} : { namespace: object.metadata.namespace }),
  };
}

/** client-node prefixes errors of its discovery request (GET /apis/<group>/<version>) with this. */
function isDiscoveryFailure(err: unknown): boolean {
  return err instanceof Error && err.message.startsWith('Failed to fetch resource metadata');
}

/** The parts of a Kubernetes `Status` body we read. */
interface StatusBody {
  message?: string;
  reason?: string;
  details?: { causes?: { field?: string; message?: string; reason?: string }[] };
}

/** Knative's webhook names the gated field; the flag that opens it (config-features, knative-serving). */
const GATED_FIELDS: readonly [RegExp, string][] = [
  [/initContainers/, 'kubernetes.podspec-init-containers'],
  [/persistentVolumeClaim|persistent volume claim/i, 'kubernetes.podspec-persistent-volume-claim'],
  [/hostPath|HostPath/, 'kubernetes.podspec-volumes-hostpath'],
  [/EmptyDir|emptyDir/, 'kubernetes.podspec-volumes-emptydir'],
  [/\.affinity/, 'kubernetes.podspec-affinity'],
  [/nodeSelector/, 'kubernetes.podspec-nodeselector'],
  [/tolerations/, 'kubernetes.podspec-tolerations'],
  [/spec\.securityContext/, 'kubernetes.podspec-securitycontext'],
];

/**
 * Turns a client-node / API server error into an {@link AppError} whose message says what to do:
 * - the kind's API group is not served → `CRD_MISSING` (install Knative / the CRDs);
 * - 401/403 → `UNAUTHORIZED`/`FORBIDDEN` with the verb and resource to ask for;
 * - Knative's webhook refusing a gated field → `FEATURE_DISABLED` naming the config-features flags;
 * - Knative refusing a changed template under the same Revision name → `REVISION_NAME_UNCHANGED`;
 * - 422 → `INVALID_OBJECT`, one line per field;
 * - 409 on apply → `FIELD_CONFLICT` (another manager owns the field);
 * - no answer → `KUBE_UNREACHABLE`.
 */
export function translateKubeError(err: unknown, context: { verb: string; ref: ObjectRef }): AppError {
  const what = describeRef(context.ref);
  if (err instanceof ApiException) return translateApiException(err, context.verb, context.ref);
  const message = err instanceof Error ? err.message : String(err);
  if (message.startsWith('Unrecognized API version and kind')) return crdMissing(context.ref, err);
  if (/ECONNREFUSED|ENOTFOUND|EHOSTUNREACH|ETIMEDOUT|fetch failed|socket hang up|certificate/i.test(message)) {
    return new AppError({
      code: 'KUBE_UNREACHABLE',
      statusCode: 503,
      message: `cannot reach the Kubernetes API server to ${context.verb} ${what}: ${causeMessage(err)} (check the kubeconfig's current context)`,
      cause: err,
    });
  }
  return new AppError({ code: 'KUBE_ERROR', message: `${context.verb} ${what}: ${message}`, cause: err });
}

function translateApiException(err: ApiException<unknown>, verb: string, ref: ObjectRef): AppError {
  const body = statusBody(err.body);
  const serverMessage = body.message ?? `HTTP ${err.code}`;
  const what = describeRef(ref);
  if (err.code === 404 && isDiscoveryFailure(err)) return crdMissing(ref, err);
  const known =
    authError(err, serverMessage, ref) ??
    featureDisabled(serverMessage, err) ??
    revisionNameUnchanged(serverMessage, what, err) ??
    requestError(err, what, body) ??
    typedPatchError(serverMessage, what, err);
  if (known) return known;
  return new AppError({
    code: 'KUBE_ERROR',
    statusCode: err.code,
    message: `${verb} ${what}: ${serverMessage}`,
    cause: err,
  });
}

function authError(err: ApiException<unknown>, serverMessage: string, ref: ObjectRef): AppError | null {
  if (err.code === 401) {
    return new AppError({
      code: 'UNAUTHORIZED',
      statusCode: 401,
      message: `the API server did not accept the credentials of the current kubeconfig context (${serverMessage}); log in again or pick another context`,
      cause: err,
    });
  }
  if (err.code !== 403) return null;
  return new AppError({
    code: 'FORBIDDEN',
    statusCode: 403,
    message: `${serverMessage}\nask a cluster admin for a Role granting get, patch (and create) on ${resourceOf(ref)}${ref.namespace ? ` in namespace ${ref.namespace}` : ''}`,
    cause: err,
  });
}

function revisionNameUnchanged(serverMessage: string, what: string, cause: unknown): AppError | null {
  if (!/without a name change/.test(serverMessage)) return null;
  return new AppError({
    code: 'REVISION_NAME_UNCHANGED',
    statusCode: 400,
    message: `${what}: the Revision template changed but its name did not; Knative keeps one template per Revision name: pass a new --artifact-version\n${serverMessage}`,
    cause,
  });
}

function requestError(err: ApiException<unknown>, what: string, body: StatusBody): AppError | null {
  if (err.code === 422 || err.code === 400) return invalidObject(err, what, body);
  if (err.code !== 409) return null;
  return new AppError({
    code: 'FIELD_CONFLICT',
    statusCode: 409,
    message: `${what}: ${body.message ?? 'conflict'}\nanother field manager owns these fields; re-run with --force-conflicts to take them over`,
    cause: err,
  });
}

/** Server-side apply checks types before the schema, and answers 500 naming the field in the message. */
function typedPatchError(serverMessage: string, what: string, cause: unknown): AppError | null {
  const typed = /failed to create typed patch object \([^)]*\): (.*)$/s.exec(serverMessage);
  if (!typed) return null;
  const lines = (typed[1] ?? '').split('\n').map((line) => `  ${line.replace(/^\./, '')}`);
  return new AppError({
    code: 'INVALID_OBJECT',
    statusCode: 422,
    message: `the API server refused ${what}:\n${lines.join('\n')}`,
    cause,
  });
}

function crdMissing(ref: ObjectRef, cause: unknown): AppError {
  return new AppError({
    code: 'CRD_MISSING',
    statusCode: 404,
    message: `the API server does not serve ${ref.apiVersion} ${ref.kind}: is ${ref.apiVersion.startsWith('serving.knative.dev') ? 'Knative Serving' : ref.apiVersion.startsWith('sources.knative.dev') ? 'Knative Eventing' : 'its CRD'} installed? (kubectl api-resources --api-group=${ref.apiVersion.split('/')[0]})`,
    cause,
  });
}

function featureDisabled(serverMessage: string, cause: unknown): AppError | null {
  if (!/must not set the field|support (for .* )?is off|is off, but found/i.test(serverMessage)) return null;
  const flags = GATED_FIELDS.filter(([pattern]) => pattern.test(serverMessage)).map(([, flag]) => flag);
  const list = flags.length > 0 ? flags.join(', ') : 'the flag named below';
  return new AppError({
    code: 'FEATURE_DISABLED',
    statusCode: 400,
    message: `Knative refused the pod spec: enable ${list} in ConfigMap config-features (namespace knative-serving); \`make deploy\` applies knative/features/config-features.yaml\n${serverMessage}`,
    cause,
  });
}

function invalidObject(err: ApiException<unknown>, what: string, body: StatusBody): AppError {
  const causes = body.details?.causes ?? [];
  const lines = causes.map((c) => `  ${c.field ?? '(object)'}: ${c.message ?? c.reason ?? 'invalid'}`);
  const detail = lines.length > 0 ? `\n${lines.join('\n')}` : `\n  ${body.message ?? `HTTP ${err.code}`}`;
  return new AppError({
    code: 'INVALID_OBJECT',
    statusCode: 422,
    message: `the API server refused ${what}:${detail}`,
    cause: err,
  });
}

function statusBody(body: unknown): StatusBody {
  if (typeof body === 'string') {
    try {
      return JSON.parse(body) as StatusBody;
    } catch {
      return { message: body };
    }
  }
  return (body ?? {}) as StatusBody;
}

function causeMessage(err: unknown): string {
  const cause = err instanceof Error && err.cause instanceof Error ? err.cause.message : undefined;
  return [err instanceof Error ? err.message : String(err), cause].filter(Boolean).join(': ');
}

function describeRef(ref: ObjectRef): string {
  return `${ref.kind} ${ref.namespace ? `${ref.namespace}/` : ''}${ref.name}`;
}

function resourceOf(ref: ObjectRef): string {
  const group = ref.apiVersion.includes('/') ? ref.apiVersion.split('/')[0] : '';
  const plural = `${ref.kind.toLowerCase()}s`;
  return group ? `${plural}.${group}` : plural;
}

/** Paths of labels, annotations and spec fields whose values differ between two versions of an object. */
export function diffObjects(before: KubernetesObject, after: KubernetesObject): string[] {
  const pick = (o: KubernetesObject): Record<string, unknown> => ({
    metadata: { labels: o.metadata?.labels ?? {}, annotations: o.metadata?.annotations ?? {} },
    spec: (o as { spec?: unknown }).spec,
    data: (o as { data?: unknown }).data,
  });
  const changes: string[] = [];
  collectDiff(pick(before), pick(after), '', changes);
  return changes.sort();
}

function collectDiff(a: unknown, b: unknown, path: string, out: string[]): void {
  if (isPlainObject(a) && isPlainObject(b)) {
    for (const key of new Set([...Object.keys(a), ...Object.keys(b)])) {
      collectDiff(a[key], b[key], path ? `${path}.${key}` : key, out);
    }
    return;
  }
  if (JSON.stringify(a) !== JSON.stringify(b)) out.push(path);
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
