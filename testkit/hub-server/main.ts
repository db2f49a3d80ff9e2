/**
 * CLI of the local Hub, for global setup (as a child process, so a test blocking its event loop cannot stall
 * the server) and for benchmarks. Runs on Node 24 without a build step:
 *
 *   node --import ./testkit/hub-server/register-ts.ts testkit/hub-server/main.ts \
 *     --repos DIR [--config FILE.json] [--port N] [--cdn-port N] [--fixtures] [--bench-repo org/name:COUNTxMiB]
 *     [--host ADDR] [--cdn-public-url URL]
 *
 * `--config` holds {@link HubServerOptions} fields (tokens, treePageSize, rateLimits, …). `--fixtures` builds
 * the test repos into DIR first; `--bench-repo` builds a big repo (e.g. `bench-org/big:4x1024` = 4 files of
 * 1 GiB). `--host` is the listening address (default 127.0.0.1; 0.0.0.0 in a pod), `--cdn-public-url` the origin
 * the LFS redirects name when clients reach the CDN through another address (a Service). Prints one JSON line
 * `{"url","cdnUrl","adminUrl"}` when listening; SIGTERM/SIGINT stop it.
 */
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { buildBenchRepo, buildTestRepos } from './fixtures.js';
import { startHubServer, type HubServerOptions } from './hub-server.js';

const { values } = parseArgs({
  options: {
    repos: { type: 'string' },
    config: { type: 'string' },
    port: { type: 'string' },
    'cdn-port': { type: 'string' },
    host: { type: 'string' },
    'cdn-public-url': { type: 'string' },
    fixtures: { type: 'boolean', default: false },
    'bench-repo': { type: 'string', multiple: true },
  },
});
if (!values.repos) {
  console.error('main: --repos DIR is required');
  process.exit(2);
}
const reposDir = values.repos;
const fromFile = values.config ? (JSON.parse(readFileSync(values.config, 'utf8')) as Partial<HubServerOptions>) : {};
if (values.fixtures) await buildTestRepos(reposDir);
for (const spec of values['bench-repo'] ?? []) {
  const m = /^([^:]+):(\d+)x(\d+)$/.exec(spec);
  if (!m) {
    console.error(`main: --bench-repo ${spec}: expected org/name:COUNTxMiB`);
    process.exit(2);
  }
  await buildBenchRepo({ root: reposDir, repo: m[1]!, fileCount: Number(m[2]), fileSize: Number(m[3]) * 1024 * 1024 });
}
const server = await startHubServer({
  ...fromFile,
  reposDir,
  ...(values.port ? { port: Number(values.port) } : {}),
  ...(values['cdn-port'] ? { cdnPort: Number(values['cdn-port']) } : {}),
  ...(values.host ? { host: values.host } : {}),
  ...(values['cdn-public-url'] ? { cdnPublicUrl: values['cdn-public-url'] } : {}),
});
console.log(JSON.stringify({ url: server.url, cdnUrl: server.cdnUrl, adminUrl: server.adminUrl }));
for (const signal of ['SIGTERM', 'SIGINT'] as const) {
  process.once(signal, () => void server.close().then(() => process.exit(0)));
}
