import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { buildTestRepos, type FixtureRepo, TEST_REPOS } from '../hub-server/fixtures.js';
import { readPeers, type PeerRun } from './peer-run.js';

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
  // the server picks free ports itself and prints them: no race with other peers picking ports meanwhile
  let listening: { url: string; cdnUrl: string; adminUrl: string } | undefined;
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
    ],
    ready: async () => {
      listening ??= readListening(run.info.logs.hub!);
      return listening !== undefined && (await fetch(`${listening.adminUrl}/health`)).ok;
    },
    timeoutMs: 30_000,
  });
  const info: HubInfo = {
    ...listening!,
    token: HUB_TOKEN,
    tokenWithoutAccess: HUB_TOKEN_WITHOUT_ACCESS,
    treePageSize: TREE_PAGE_SIZE,
    reposDir,
    repos,
  };
  run.info.hub = info;
}

/** The `{"url","cdnUrl","adminUrl"}` line main.ts prints once listening, if it is in the log yet. */
function readListening(logFile: string): { url: string; cdnUrl: string; adminUrl: string } | undefined {
  if (!existsSync(logFile)) return undefined;
  const line = readFileSync(logFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('{"url":'));
  return line ? (JSON.parse(line) as { url: string; cdnUrl: string; adminUrl: string }) : undefined;
}

/** The local Hub published by global setup (throws when it was not started). */
export function readHub(): HubInfo {
  const hub = readPeers().hub as HubInfo | undefined;
  if (!hub) throw new Error('the local Hub is not in the peers file: is startHub registered in test/global-setup.ts?');
  return hub;
}
