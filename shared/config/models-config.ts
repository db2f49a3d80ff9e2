import { isMap, isScalar, LineCounter, parseDocument, visit, YAMLParseError, type Document } from 'yaml';
import { z } from 'zod';
import { ConfigError } from '../errors/app-error.js';
import { repoIdProblem } from '../hub/repo-id-problem.js';
import { describeIssues } from './describe-issues.js';

/**
 * The warm/agent configuration (the seed's values), published by users as the `models.yaml` key of the
 * models ConfigMap (`modelctl-models`, label `modelctl.dev/config: models`). The warm function validates
 * it and turns it into a plan (see shared/plan/); the agents read the plan, not this ConfigMap.
 *
 * ```yaml
 * nodeHostPath: /mnt/stateful_partition/kube-ephemeral-ssd
 * cachePath: huggingface/hub          # HF_HUB_CACHE = <nodeHostPath>/<cachePath>
 * checkIntervalSeconds: 3600
 * configReadRetryDelaySeconds: 60
 * minFreeSpaceGB: 20                  # GB (10⁹ bytes) kept free on the cache disk
 * imageProxy: registry.example.com/mirror           # registry prefix of every image modelctl installs or deploys
 * excludeGpuTypes: [nvidia-tesla-k80, Tesla-K80]    # nodes with these GPU types get no agent
 * models:
 *   Qwen/Qwen2.5-0.5B-Instruct:
 *     gpu_compatible: [nvidia-l4, nvidia-tesla-t4]   # or [ALL] (the default)
 *     revision: main                                 # branch, tag or 40-hex commit (default main)
 *     allow_patterns: ["*.json", "*.safetensors"]    # Python fnmatch: `*` crosses `/`
 *     ignore_patterns: ["*.bin"]
 * ```
 * `hfToken` never lives here: it comes from a Secret (`HF_TOKEN`). A ConfigMap that carries it is rejected.
 */

/** Name of the models ConfigMap the ApiServerSource watches. */
export const MODELS_CONFIG_MAP_NAME = 'modelctl-models';
/** Key of the models ConfigMap that holds the yaml. */
export const MODELS_CONFIG_KEY = 'models.yaml';

/** Default node folder of the cache (the seed's GKE local SSD). */
export const DEFAULT_NODE_HOST_PATH = '/mnt/stateful_partition/kube-ephemeral-ssd';
/** Default cache folder under `nodeHostPath` (HF_HUB_CACHE = nodeHostPath/cachePath). */
export const DEFAULT_CACHE_PATH = 'huggingface/hub';

/** A branch, tag or commit: printable, no whitespace, no `..`, no leading `/` (it goes in a URL path). */
const Revision = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[^\s\\~^:?*[\]]+$/, 'revision must not contain whitespace or any of \\ ~ ^ : ? * [ ]')
  .refine((r) => !r.includes('..') && !r.startsWith('/') && !r.endsWith('/'), {
    message: 'revision must not contain ".." or start/end with "/"',
  });

/** A GPU type as nodes label it (a Kubernetes label value), or the single value `ALL`. */
const GpuType = z
  .string()
  .max(63)
  .regex(/^[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?$/, 'GPU type must be a Kubernetes label value');

const GpuCompatible = z
  .array(GpuType)
  .min(1)
  .refine((types) => !types.includes('ALL') || types.length === 1, {
    message: 'use either ["ALL"] or a list of GPU types, not both',
  });

/** huggingface_hub accepts one pattern or a list: both are accepted and normalised to a list. */
const Patterns = z
  .union([z.string().min(1), z.array(z.string().min(1))])
  .transform((p) => (typeof p === 'string' ? [p] : p));

/** One model of the config. snake_case keys are the seed's (and huggingface_hub's) names. */
export const ModelSpec = z.strictObject({
  gpu_compatible: GpuCompatible.default(['ALL']),
  revision: Revision.default('main'),
  allow_patterns: Patterns.optional(),
  ignore_patterns: Patterns.optional(),
});
export type ModelSpec = z.output<typeof ModelSpec>;

const RepoId = z.string().superRefine((repo, ctx) => {
  const problem = repoIdProblem(repo);
  if (problem) ctx.addIssue({ code: 'custom', message: `${problem} (got ${JSON.stringify(repo)})` });
});

const RelativePath = z
  .string()
  .min(1)
  .refine((p) => !p.startsWith('/') && !p.split('/').includes('..') && !p.includes('\\'), {
    message: 'must be a relative path without ".." or "\\"',
  });

/** The whole warm/agent config. Unknown keys are rejected (a typo must not silently fall back to a default). */
export const ModelsConfig = z.strictObject({
  nodeHostPath: z
    .string()
    .refine((p) => p.startsWith('/'), { message: 'must be an absolute path' })
    .default(DEFAULT_NODE_HOST_PATH),
  cachePath: RelativePath.default(DEFAULT_CACHE_PATH),
  checkIntervalSeconds: z.number().int().positive().default(3600),
  configReadRetryDelaySeconds: z.number().int().positive().default(60),
  /** GB, 10⁹ bytes (shared/disk/byte-units.ts) */
  minFreeSpaceGB: z.number().nonnegative().default(20),
  imageProxy: z.string().min(1).optional(),
  /** GPU types (node label values) whose nodes get no agent: the DaemonSet's NotIn, rendered from here */
  excludeGpuTypes: z.array(GpuType).default([]),
  models: z.record(RepoId, ModelSpec).default({}),
});
export type ModelsConfig = z.output<typeof ModelsConfig>;

/** The config settings the agents need besides the models (copied into the plan). */
export type ModelsSettings = Omit<ModelsConfig, 'models'>;

/**
 * Parses the yaml text of the models ConfigMap's {@link MODELS_CONFIG_KEY} into a {@link ModelsConfig}.
 * @throws ConfigError whose message has one line per bad field, each led by its path
 *   (`models["org/name"].revision: …`, `minFreeSpaceGB: …`, `models.yaml: line 3, column 7: …`)
 */
export function parseModelsConfig(yamlText: string): ModelsConfig {
  const raw = parseYamlText(yamlText);
  if (raw !== null && typeof raw === 'object' && !Array.isArray(raw) && 'hfToken' in raw) {
    const rest = { ...(raw as Record<string, unknown>) };
    delete rest.hfToken;
    const lines = ['hfToken: must not be in the ConfigMap; put the token in a Secret (HF_TOKEN)'];
    const others = ModelsConfig.safeParse(rest);
    if (!others.success) lines.push(...describeIssues(others.error.issues, { keyName: 'model id' }));
    throw new ConfigError(lines.join('\n'));
  }
  const result = ModelsConfig.safeParse(raw ?? {});
  if (result.success) {
    const count = Object.keys(result.data.models).length;
    if (count > MODELS_CONFIG_LIMITS.models) {
      throw new ConfigError(
        `models: ${count} models, more than the ${MODELS_CONFIG_LIMITS.models} one plan can hold: keep the models ` +
          `the GPU nodes really need`,
      );
    }
    return result.data;
  }
  throw new ConfigError(describeIssues(result.error.issues, { keyName: 'model id' }).join('\n'));
}

/**
 * Reads {@link MODELS_CONFIG_KEY} of a ConfigMap's `data` and parses it.
 * @throws ConfigError when the key is missing or its config is invalid
 */
export function parseModelsConfigMapData(data: Record<string, string> | undefined): ModelsConfig {
  const text = data?.[MODELS_CONFIG_KEY];
  if (text === undefined) {
    const keys = Object.keys(data ?? {});
    const found = keys.length > 0 ? `; found ${keys.map((k) => JSON.stringify(k)).join(', ')}` : '';
    throw new ConfigError(`data.${MODELS_CONFIG_KEY}: missing${found}`);
  }
  return parseModelsConfig(text);
}

/** An expected outcome, not an exception: the config, or one line per problem (as {@link parseModelsConfig} words them). */
export type ModelsConfigResult = { ok: true; config: ModelsConfig } | { ok: false; errors: string[] };

/** {@link parseModelsConfigMapData} as a result: an invalid config is `{ ok: false, errors }`; other failures throw. */
export function readModelsConfigMapData(data: Record<string, string> | undefined): ModelsConfigResult {
  try {
    return { ok: true, config: parseModelsConfigMapData(data) };
  } catch (err) {
    if (err instanceof ConfigError) return { ok: false, errors: err.message.split('\n') };
    throw err;
  }
}

/**
 * Bounds of a models config, so warm and the agent do bounded work whatever the ConfigMap holds (issue 14):
 * the text is refused before parsing above `yamlBytes` (parsing blocks the event loop, ~1 s per 256 KiB on a
 * busy node), a config with more than `models` models is refused (one plan, ≤ 1 MB, holds about that many),
 * and aliases may expand to at most `aliasExpansion` nodes (yaml's guard against "billion laughs").
 */
const MODELS_CONFIG_LIMITS = { yamlBytes: 256 * 1024, models: 2000, aliasExpansion: 10_000 } as const;

function parseYamlText(text: string): unknown {
  const bytes = Buffer.byteLength(text);
  if (bytes > MODELS_CONFIG_LIMITS.yamlBytes) {
    throw new ConfigError(
      `${MODELS_CONFIG_KEY}: ${Math.ceil(bytes / 1024)} KiB, more than the ${MODELS_CONFIG_LIMITS.yamlBytes / 1024} KiB ` +
        `a models config may have: split the models over fewer, shorter entries`,
    );
  }
  const lineCounter = new LineCounter();
  // uniqueKeys off: yaml's own check compares every key with every other (quadratic); ours is one Set per map
  const doc = parseDocument(text, { uniqueKeys: false, merge: true, lineCounter, prettyErrors: false });
  const first = doc.errors[0];
  if (first) throw yamlError(first, lineCounter);
  const duplicate = firstDuplicateKey(doc, lineCounter);
  if (duplicate !== null) throw new ConfigError(`${MODELS_CONFIG_KEY}: ${duplicate}`);
  try {
    return doc.toJS({ maxAliasCount: MODELS_CONFIG_LIMITS.aliasExpansion }) as unknown;
  } catch (err) {
    if (err instanceof ReferenceError && /alias/i.test(err.message)) {
      throw new ConfigError(
        `${MODELS_CONFIG_KEY}: its aliases expand to more than ${MODELS_CONFIG_LIMITS.aliasExpansion} nodes ` +
          `(yaml's guard against alias bombs): write the repeated parts out or use fewer aliases`,
        err,
      );
    }
    throw new ConfigError(`${MODELS_CONFIG_KEY}: ${(err as Error).message}`, err);
  }
}

function yamlError(err: YAMLParseError, lineCounter: LineCounter): ConfigError {
  const pos = lineCounter.linePos(err.pos[0]);
  const first = err.message.split('\n')[0] ?? err.message;
  return new ConfigError(
    `${MODELS_CONFIG_KEY}: line ${pos.line}, column ${pos.col}: ${first.replace(/ at line \d+, column \d+:?$/, '')}`,
    err,
  );
}

/** The first key repeated in one mapping (a repeated model id would silently override the first), or null. */
function firstDuplicateKey(doc: Document, lineCounter: LineCounter): string | null {
  let found: string | null = null;
  visit(doc, {
    Map(_key, map) {
      const seen = new Set<unknown>();
      for (const pair of map.items) {
        const key = isScalar(pair.key) ? pair.key.value : pair.key;
        if (isMap(key) || !seen.has(key)) {
          seen.add(key);
          continue;
        }
        const offset = isScalar(pair.key) ? (pair.key.range?.[0] ?? 0) : 0;
        const pos = lineCounter.linePos(offset);
        found = `line ${pos.line}, column ${pos.col}: Map keys must be unique (${JSON.stringify(String(key))} again)`;
        return visit.BREAK;
      }
      return undefined;
    },
  });
  return found;
}
