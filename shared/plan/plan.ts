import { createHash } from 'node:crypto';
import { z } from 'zod';
import type { ModelsConfig, ModelsSettings } from '../config/models-config.js';
import { describeIssues } from '../config/describe-issues.js';

/**
 * The plan: what the warm function resolved once for the whole fleet, published as the `plan.json` key of
 * the `modelctl-plan` ConfigMap (in the namespace of the models ConfigMap). Agents watch it and download,
 * for each model with `status: ok` whose `gpuCompatible` matches their node, exactly `files` at `commit`.
 */

/** Name of the ConfigMap the plan is published in. */
export const PLAN_CONFIG_MAP_NAME = 'modelctl-plan';
/** Key of that ConfigMap holding the plan JSON. */
export const PLAN_KEY = 'plan.json';
/** Labels put on the plan ConfigMap (agents may watch by label). */
export const PLAN_LABELS = { 'app.kubernetes.io/part-of': 'modelctl', 'modelctl.dev/plan': 'models' } as const;
/** Annotation mirroring `contentHash`, so a watcher can skip unchanged plans without parsing. */
export const PLAN_CONTENT_HASH_ANNOTATION = 'modelctl.dev/content-hash';
/** The current plan format. */
const PLAN_API_VERSION = 'modelctl.dev/v1';
/** A ConfigMap holds at most 1 MiB; the plan must fit with room for metadata. */
export const PLAN_MAX_BYTES = 1_000_000;

const Sha1 = z.string().regex(/^[0-9a-f]{40}$/, 'must be 40 lowercase hex digits');
const Sha256 = z.string().regex(/^[0-9a-f]{64}$/, 'must be 64 lowercase hex digits');

/** One file of a model at its commit, as the Hub tree lists it. */
export const PlanFile = z.strictObject({
  /** path inside the repo, validated (relative, no `..`, no backslash) */
  path: z.string().min(1),
  /** bytes (for LFS/Xet files: the LFS object size) */
  size: z.number().int().nonnegative(),
  /** git blob sha1: the cache etag of a small file */
  oid: Sha1,
  /** LFS sha256: the cache etag of an LFS/Xet file (its blob name) */
  lfsSha256: Sha256.optional(),
});
export type PlanFile = z.output<typeof PlanFile>;

/** How resolving a model ended. Anything but `ok` has a `message` and no files. */
const ModelStatus = z.enum(['ok', 'gated', 'not-found', 'revision-not-found', 'error']);
export type ModelStatus = z.output<typeof ModelStatus>;

/** One model of the plan. */
export const PlanModel = z.strictObject({
  /** `<org>/<name>` */
  repo: z.string().min(1),
  /** the revision the config asked for (branch, tag or commit) */
  revision: z.string().min(1),
  /** the commit it resolved to; null unless `status` is ok */
  commit: Sha1.nullable(),
  /** files after allow/ignore patterns, sorted by path */
  files: z.array(PlanFile),
  /** sum of `files[].size` */
  totalBytes: z.number().int().nonnegative(),
  /** the patterns applied (null: none given) */
  allowPatterns: z.array(z.string()).nullable(),
  ignorePatterns: z.array(z.string()).nullable(),
  /** `["ALL"]` or the node GPU types that get this model */
  gpuCompatible: z.array(z.string()).min(1),
  status: ModelStatus,
  /** why the status is not ok (never carries a token) */
  message: z.string().optional(),
});
export type PlanModel = z.output<typeof PlanModel>;

/** The config settings the agents need, copied from the models ConfigMap. */
const PlanSettings = z.strictObject({
  nodeHostPath: z.string(),
  cachePath: z.string(),
  checkIntervalSeconds: z.number().int().positive(),
  configReadRetryDelaySeconds: z.number().int().positive(),
  minFreeSpaceGB: z.number().nonnegative(),
  imageProxy: z.string().optional(),
  excludeGpuTypes: z.array(z.string()).optional(),
});

/** Where the plan came from: the models ConfigMap at one version. */
export const PlanSource = z.strictObject({
  namespace: z.string(),
  name: z.string(),
  uid: z.string().optional(),
  resourceVersion: z.string().optional(),
  /** ConfigMaps usually carry no generation; kept when the API server sets one */
  generation: z.number().int().optional(),
});
export type PlanSource = z.output<typeof PlanSource>;

export const Plan = z.strictObject({
  apiVersion: z.literal(PLAN_API_VERSION),
  kind: z.literal('ModelPlan'),
  /** sha256 of the canonical JSON of `settings` + `models`: equal hash, equal plan */
  contentHash: Sha256,
  /** sha256 of the canonical parsed config it was resolved from: equal hash, no Hub call needed */
  configHash: Sha256,
  source: PlanSource,
  createdAt: z.iso.datetime(),
  settings: PlanSettings,
  /** sorted by repo */
  models: z.array(PlanModel),
});
export type Plan = z.output<typeof Plan>;

/** JSON with object keys sorted at every level: the same value always gives the same text. */
export function canonicalJson(value: unknown): string {
  return JSON.stringify(value, (_key, v: unknown) => {
    if (v === null || typeof v !== 'object' || Array.isArray(v)) return v;
    return Object.fromEntries(Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0)));
  });
}

function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

/** Hash of a parsed models config (comments, key order and defaults written out make no difference). */
export function hashModelsConfig(config: ModelsConfig): string {
  return sha256Hex(canonicalJson(config));
}

/** Hash of what agents act on: settings and models (not createdAt nor source). */
function hashPlanContent(params: { settings: ModelsSettings; models: readonly PlanModel[] }): string {
  return sha256Hex(canonicalJson({ settings: params.settings, models: params.models }));
}

/** The config minus its models: what the plan carries for the agents. */
function settingsOf(config: ModelsConfig): ModelsSettings {
  const settings: Record<string, unknown> = { ...config };
  delete settings.models;
  return settings as ModelsSettings;
}

/** Builds a plan, sorting models by repo and computing its content hash. */
export function buildPlan(params: {
  config: ModelsConfig;
  models: readonly PlanModel[];
  source: PlanSource;
  /** @default new Date() */
  now?: Date;
}): Plan {
  const settings = settingsOf(params.config);
  const models = [...params.models].sort((a, b) => (a.repo < b.repo ? -1 : a.repo > b.repo ? 1 : 0));
  return {
    apiVersion: PLAN_API_VERSION,
    kind: 'ModelPlan',
    contentHash: hashPlanContent({ settings, models }),
    configHash: hashModelsConfig(params.config),
    source: params.source,
    createdAt: (params.now ?? new Date()).toISOString(),
    settings,
    models,
  };
}

/**
 * Parses the plan JSON of the plan ConfigMap (an untrusted edge for the agents).
 * @throws Error naming each bad field when the text is not a valid plan
 */
export function parsePlan(text: string): Plan {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (err) {
    throw new Error(`${PLAN_KEY}: not JSON: ${(err as Error).message}`, { cause: err });
  }
  const result = Plan.safeParse(raw);
  if (result.success) return result.data;
  const lines = describeIssues(result.error.issues);
  throw new Error(`${PLAN_KEY}: invalid plan\n${lines.join('\n')}`);
}

/** The plan as stored in the ConfigMap (stable key order, one line). */
export function serializePlan(plan: Plan): string {
  return canonicalJson(plan);
}
