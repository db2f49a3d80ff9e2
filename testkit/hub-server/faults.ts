import { z } from 'zod';

/** What a request is, for fault matching and counters. */
export const HubEndpoint = z.enum([
  'model-info',
  'revision',
  'tree',
  'paths-info',
  'refs',
  'resolve',
  'resolve-cache',
  'cdn',
  'other',
]);
export type HubEndpoint = z.infer<typeof HubEndpoint>;

/**
 * A fault rule, as tests send it to `POST /_admin/faults` (or {@link FaultSet.add} in-process).
 * A request gets the first active rule that matches it.
 */
export const FaultRule = z.object({
  match: z
    .object({
      /** any endpoint when absent */
      endpoint: HubEndpoint.optional(),
      /** HEAD | GET | POST; any when absent */
      method: z.string().optional(),
      /** `org/name`; any repo when absent */
      repo: z.string().optional(),
      /** file path inside the repo (resolve, cdn): exact match */
      path: z.string().optional(),
      /** Range requests only (true), non-range only (false), or both (absent) */
      range: z.boolean().optional(),
    })
    .default({}),
  action: z.discriminatedUnion('kind', [
    /** answer with this status (429, 5xx, …) and an error body; for 429, Retry-After + RateLimit headers */
    z.object({
      kind: z.literal('status'),
      status: z.number().int().min(400).max(599),
      /** seconds; sent as `Retry-After` and in `RateLimit: "<type>";r=0;t=<s>` on 429 */
      retryAfter: z.number().int().min(0).optional(),
      errorCode: z.string().optional(),
      errorMessage: z.string().optional(),
    }),
    /** send headers and `afterBytes` of the body, then destroy the socket */
    z.object({ kind: z.literal('drop'), afterBytes: z.number().int().min(0) }),
    /** flip the bits of the body byte at `atByte` (offset in this response's body): a hash check must catch it */
    z.object({ kind: z.literal('corrupt'), atByte: z.number().int().min(0).default(0) }),
    /** send the body at this rate */
    z.object({ kind: z.literal('throttle'), bytesPerSecond: z.number().int().min(1) }),
    /** wait before answering */
    z.object({ kind: z.literal('delay'), ms: z.number().int().min(0) }),
    /** add traversal file names to tree / siblings / paths-info listings */
    z.object({ kind: z.literal('hostile-names'), names: z.array(z.string()).optional() }),
    /** answer as if the repo were gated (401/403 GatedRepo on resolve) */
    z.object({ kind: z.literal('gated') }),
    /** answer as if the repo did not exist (401/404 RepoNotFound) */
    z.object({ kind: z.literal('missing') }),
  ]),
  /** apply to this many matching requests, then stop (unlimited when absent) */
  times: z.number().int().min(1).optional(),
  /** let this many matching requests through first */
  skip: z.number().int().min(0).optional(),
});
export type FaultRule = z.input<typeof FaultRule>;
export type ParsedFaultRule = z.output<typeof FaultRule>;
export type FaultAction = ParsedFaultRule['action'];

/** The file names the `hostile-names` fault adds by default. */
export const HOSTILE_NAMES = ['../escape.txt', '/etc/passwd-x', 'a\\b.txt', 'sub/../../up.txt'];

/** What a request looks like to the fault matcher. */
export interface FaultTarget {
  endpoint: HubEndpoint;
  method: string;
  repo?: string | undefined;
  path?: string | undefined;
  range: boolean;
}

interface ActiveRule {
  id: number;
  rule: ParsedFaultRule;
  /** requests that matched (including skipped ones) */
  seen: number;
  /** requests the action was applied to */
  applied: number;
}

/** The runtime-configurable fault rules of one server. */
export class FaultSet {
  private rules: ActiveRule[] = [];
  private nextId = 1;

  /** Adds a rule (validated); returns its id. */
  add(input: unknown): number {
    const rule = FaultRule.parse(input);
    const id = this.nextId++;
    this.rules.push({ id, rule, seen: 0, applied: 0 });
    return id;
  }

  remove(id: number): boolean {
    const before = this.rules.length;
    this.rules = this.rules.filter((r) => r.id !== id);
    return this.rules.length !== before;
  }

  clear(): void {
    this.rules = [];
  }

  list(): { id: number; rule: ParsedFaultRule; seen: number; applied: number }[] {
    return this.rules.map((r) => ({ ...r }));
  }

  /** The action to apply to this request, if any (counts it against the rule's `skip`/`times`). */
  take(target: FaultTarget): FaultAction | null {
    for (const active of this.rules) {
      if (!matches(active.rule.match, target)) continue;
      if (active.rule.times !== undefined && active.applied >= active.rule.times) continue;
      active.seen++;
      if (active.seen <= (active.rule.skip ?? 0)) continue;
      active.applied++;
      return active.rule.action;
    }
    return null;
  }
}

/** Every field the rule sets equals the request's (the method in upper case). */
function matches(match: ParsedFaultRule['match'], target: FaultTarget): boolean {
  const fields: [unknown, unknown][] = [
    [match.endpoint, target.endpoint],
    [match.method?.toUpperCase(), target.method],
    [match.repo, target.repo],
    [match.path, target.path],
    [match.range, target.range],
  ];
  return fields.every(([wanted, actual]) => wanted === undefined || wanted === actual);
}
