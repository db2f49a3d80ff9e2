import type { IncomingHttpHeaders } from 'node:http';
import { v2Error } from './oip-v2-types.js';

// Apart from oip-v2-routes.ts (express): the predict fast path reads it without loading express (issue 16).
/**
 * The binary extension's `Inference-Header-Content-Length`, or undefined without it.
 * @throws AppError 400 when it is not a byte count
 */
export function inferenceHeaderLength(headers: IncomingHttpHeaders): number | undefined {
  const header = headers['inference-header-content-length'];
  if (header === undefined) return undefined;
  const text = (Array.isArray(header) ? header.join(',') : header).trim();
  if (!/^\d{1,15}$/.test(text))
    throw v2Error(
      400,
      `Inference-Header-Content-Length must be a byte count, got ${JSON.stringify(text.slice(0, 40))}`,
    );
  return Number(text);
}
