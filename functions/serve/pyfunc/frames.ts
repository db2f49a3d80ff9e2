// The frames between the Node front end and a pyfunc worker (pyfunc_worker.py): length-prefixed, so a body
// crosses as raw bytes (no JSON-in-JSON, no escaping) and a reader never has to scan for a delimiter:
//   [u32 BE header length][u32 BE body length][header: UTF-8 JSON][body]

const PREFIX = 8;

/** One frame: a small JSON header and raw body bytes. */
export interface Frame {
  header: Record<string, unknown>;
  body: Buffer;
}

/** Encodes a frame as the chunks to write (the body is not copied). */
export function encodeFrame(header: Record<string, unknown>, body: Uint8Array): Buffer[] {
  const head = Buffer.from(JSON.stringify(header), 'utf8');
  const prefix = Buffer.allocUnsafe(PREFIX);
  prefix.writeUInt32BE(head.length, 0);
  prefix.writeUInt32BE(body.byteLength, 4);
  return [prefix, head, Buffer.from(body.buffer, body.byteOffset, body.byteLength)];
}

/**
 * Splits a byte stream into frames: feed it each chunk as it arrives; it calls `onFrame` for each whole frame.
 * @throws Error when a header is not JSON (the stream is then unusable: the worker is replaced)
 */
export function createFrameReader(onFrame: (frame: Frame) => void): (chunk: Buffer) => void {
  let pending: Buffer[] = [];
  let buffered = 0;
  let need: { head: number; body: number } | null = null;
  const take = (n: number): Buffer => {
    const all = pending.length === 1 ? pending[0]! : Buffer.concat(pending, buffered);
    pending = all.length > n ? [all.subarray(n)] : [];
    buffered -= n;
    return all.subarray(0, n);
  };
  return (chunk) => {
    pending.push(chunk);
    buffered += chunk.length;
    for (;;) {
      if (!need) {
        if (buffered < PREFIX) return;
        const prefix = take(PREFIX);
        need = { head: prefix.readUInt32BE(0), body: prefix.readUInt32BE(4) };
      }
      if (buffered < need.head + need.body) return;
      const bytes = take(need.head + need.body);
      const header = JSON.parse(bytes.subarray(0, need.head).toString('utf8')) as Record<string, unknown>;
      const body = bytes.subarray(need.head);
      need = null;
      onFrame({ header, body });
    }
  };
}
