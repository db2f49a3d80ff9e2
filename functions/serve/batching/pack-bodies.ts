import type { ScoringTask } from '../scoring.js';

/** Bodies up to this size travel together in one buffer; a larger one keeps (or gets) a buffer of its own. */
const PACK_MAX_BYTES = 64 * 1024;
/** Each packed body starts at a multiple of this, so its bytes keep the alignment they have at offset 0. */
const PACK_ALIGN = 8;

/**
 * A batch's tasks with bodies ready to transfer to an inference thread, and the buffers to transfer. The small
 * bodies are copied side by side into one new buffer (one transfer and one buffer for the thread to take in,
 * instead of one per request: for small requests that hand-off costs more than the copy); a large body is
 * transferred in its own buffer, copied only when it shares that buffer with other data.
 * The views keep each body's bytes only: a thread may not assume a body starts at offset 0 of its buffer.
 */
export function packBodies(tasks: readonly ScoringTask[]): { tasks: ScoringTask[]; transfer: ArrayBuffer[] } {
  let packedBytes = 0;
  for (const t of tasks) if (t.body.byteLength <= PACK_MAX_BYTES) packedBytes += aligned(t.body.byteLength);
  const packed = new Uint8Array(packedBytes);
  const transfer: ArrayBuffer[] = packedBytes > 0 ? [packed.buffer] : [];
  let offset = 0;
  const out = tasks.map((t): ScoringTask => {
    if (t.body.byteLength > PACK_MAX_BYTES) {
      const body = ownedBytes(t.body);
      transfer.push(body.buffer);
      return { ...t, body };
    }
    const body = packed.subarray(offset, offset + t.body.byteLength);
    body.set(t.body);
    offset += aligned(t.body.byteLength);
    return { ...t, body };
  });
  return { tasks: out, transfer };
}

/**
 * The body in a buffer of its own, to transfer: a body that shares its ArrayBuffer with others (Node pools
 * small Buffers) is copied first, since transferring would take the others' memory with it.
 */
export function ownedBytes(body: Uint8Array): Uint8Array<ArrayBuffer> {
  if (body.buffer instanceof ArrayBuffer && body.byteOffset === 0 && body.byteLength === body.buffer.byteLength)
    return body as Uint8Array<ArrayBuffer>;
  return new Uint8Array(body);
}

function aligned(bytes: number): number {
  return Math.ceil(bytes / PACK_ALIGN) * PACK_ALIGN;
}
