/**
 * The tracking URI without credentials or trailing slash (`https://u:p@mlflow:5000/` → `https://mlflow:5000`):
 * safe in messages and logs, and the server part of cache identities. No HTTP imports here: the cache-hit path
 * uses it without loading the client.
 */
export function trackingOrigin(trackingUri: string): string {
  const url = new URL(trackingUri);
  url.username = '';
  url.password = '';
  url.search = '';
  url.hash = '';
  return url.toString().replace(/\/+$/, '');
}
