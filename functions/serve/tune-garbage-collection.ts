import { setFlagsFromString } from 'node:v8';

/** Incremental marking starts (in a task) once this share of the old generation's headroom is used, in percent. */
const MARKING_SOFT_TRIGGER_PERCENT = 80;
/** ... and at once from this share on. */
const MARKING_HARD_TRIGGER_PERCENT = 90;

/**
 * Starts V8's full (mark-compact) collections by how much of the old generation's headroom is used, instead of by
 * its default rule, for every thread of the process (V8's flags are per process).
 *
 * Why (issue 16): after a full collection V8 sets the old generation's limit at its size + max(its growth, 8 MiB) +
 * the young generation's capacity, and by default starts incremental marking once the headroom below that limit is
 * no larger than the young generation's total capacity (V8 heap.cc, IncrementalMarkingLimitReached). serve's old
 * generation is small (~15 MiB) and its young generation grows to 8-16 MiB semi-spaces under load, so that rule held
 * again almost right after each full collection: under the dense benchmark the main thread ran a mark-compact about
 * every 50 requests (20-27 per 1000; `--trace-gc`: each freed ~1.4 MiB), ~0.5 ms of CPU per request on V8's helper
 * threads and the main thread. With these triggers: 1-3 per 1000, the young generation keeping its default size
 * (1 MiB semi-spaces, `--max-semi-space-size=1`, end the loop too, but cost small requests 5-15% more CPU).
 *
 * Set at run time (node:v8), as Node does not take these V8 flags in NODE_OPTIONS: V8 reads them each time it
 * decides whether to start marking. Called once every inference thread has loaded, not earlier: V8's code cache
 * entries (NODE_COMPILE_CACHE) carry the flags they were compiled under, so a module compiled after the change
 * misses the cache; after it, only modules imported lazily (OIP v2 / KServe v1 scoring, CSV parsing, on their
 * first request) compile from source once.
 */
export function tuneGarbageCollection(): void {
  setFlagsFromString(`--incremental-marking-soft-trigger=${MARKING_SOFT_TRIGGER_PERCENT}`);
  setFlagsFromString(`--incremental-marking-hard-trigger=${MARKING_HARD_TRIGGER_PERCENT}`);
}
