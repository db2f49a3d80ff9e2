import { writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTestRepos, type FixtureRepo, TEST_REPOS } from '../hub-server/fixtures.js';
import { freePort, readPeers, type PeerRun } from './peer-run.js';

const here = path.dirname(fileURLToPath(import.meta.url));

/** What global setup publishes as `run.info.hub` (read it with {@link readHub}). */
export interface HubInfo {
  /** Hub endpoint: `HF_ENDPOINT` / `endpoint=` / `hubUrl` */
  url: string;
  /** origin of the CDN the LFS files redirect to (another port: another origin) */
  cdnUrl: string;
  /** admin API base; use `new HubAdmin(adminUrl)` from test/hub-server/hub-admin.ts */
  adminUrl: string;
  /** token granted access to the gated and private repos */
  token: string;
  /** valid token without access to gated/private repos (403 GatedRepo) */
  tokenWithoutAccess: string;
  /** `/tree` page size of this server (small, so listings page) */
  treePageSize: number;
  /** the repo store: mutate it with repo-store.ts (commitFiles, setRef, updateRepo, renameRepo) */
  reposDir: string;
  /** the fixture repos at start, by key (see TEST_REPOS) */
  repos: Record<keyof typeof TEST_REPOS, FixtureRepo>;
}

export const HUB_TOKEN = 'hf_modelctltestgrantedtoken0000000';
export const HUB_TOKEN_WITHOUT_ACCESS = 'hf_modelctltestdeniedtoken00000000';
const TREE_PAGE_SIZE = 10;

/**
 * Builds the fixture repos in `run.runDir/hub-repos` and starts the local Hub as a child process (so tests
 * that block their event loop, e.g. with a synchronous Python call, cannot stall it). Publishes `run.info.hub`.
 */
export async function startHub(run: PeerRun): Promise<void> {
  const reposDir = path.join(run.runDir, 'hub-repos');
  const repos = await buildTestRepos(reposDir);
  const configFile = path.join(run.runDir, 'hub-config.json');
  writeFileSync(
    configFile,
    JSON.stringify({
      tokens: {
        [HUB_TOKEN]: { user: 'granted-user', gatedAccess: true },
        [HUB_TOKEN_WITHOUT_ACCESS]: { user: 'denied-user', gatedAccess: false },
      },
      treePageSize: TREE_PAGE_SIZE,
    }),
  );
  const [port, cdnPort] = [await freePort(), await freePort()];
  const url = `http://127.0.0.1:${port}`;
  await run.spawnPeer({
    name: 'hub',
    command: process.execPath,
    args: [
      '--import',
      path.join(here, '../hub-server/register-ts.ts'),
      path.join(here, '../hub-server/main.ts'),
      '--repos',
      reposDir,
      '--config',
      configFile,
      '--port',
      String(port),
      '--cdn-port',
      String(cdnPort),
    ],
    ready: async () => (await fetch(`${url}/_admin/health`)).ok,
    timeoutMs: 30_000,
  });
  const info: HubInfo = {
    url,
    cdnUrl: `http://127.0.0.1:${cdnPort}`,
    adminUrl: `${url}/_admin`,
    token: HUB_TOKEN,
    tokenWithoutAccess: HUB_TOKEN_WITHOUT_ACCESS,
    treePageSize: TREE_PAGE_SIZE,
    reposDir,
    repos,
  };
  run.info.hub = info;
}

/** The local Hub published by global setup (throws when it was not started). */
export function readHub(): HubInfo {
  const hub = readPeers().hub as HubInfo | undefined;
  if (!hub) throw new Error('the local Hub is not in the peers file: is startHub registered in test/global-setup.ts?');
  return hub;
}
