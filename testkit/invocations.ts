import { request, type ClientRequest } from 'node:http';

/** One request of a scoring corpus: its body as sent and its Content-Type (none: the header is left out). */
export interface InvocationCase {
  name: string;
  body: string;
  type?: string;
}

/** A server's answer: its status and its body, parsed when it is JSON, else the text. */
export interface InvocationAnswer {
  status: number;
  body: unknown;
}

/** POSTs a case to `${url}/invocations`, as MLflow's scoring clients do. */
export async function askInvocations(url: string, c: InvocationCase): Promise<InvocationAnswer> {
  // bytes, not a string: fetch would add its own text/plain Content-Type to a string body
  const res = await fetch(`${url}/invocations`, {
    method: 'POST',
    headers: c.type ? { 'Content-Type': c.type } : {},
    body: new TextEncoder().encode(c.body),
  });
  const text = await res.text();
  try {
    return { status: res.status, body: JSON.parse(text) as unknown };
  } catch {
    return { status: res.status, body: text };
  }
}

/**
 * A JSON POST sent whole whose answer is never read: the test leaves it open and destroys it (the client leaves).
 * `chunked`: sent without Content-Length.
 */
export function postLeftOpen(url: string, route: string, body: string, chunked = false): ClientRequest {
  const { hostname, port } = new URL(url);
  const headers: Record<string, string> = { 'content-type': 'application/json' };
  if (!chunked) headers['content-length'] = String(Buffer.byteLength(body));
  const req = request({ host: hostname, port, method: 'POST', path: route, headers });
  req.on('error', () => undefined);
  req.end(body);
  return req;
}
