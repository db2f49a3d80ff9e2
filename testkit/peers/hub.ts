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
  /** admin API base; use `new HubAdmin(adminUrl)` from testkit/hub-server/hub-admin.ts */
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

const HUB_TOKEN = 'hf_modelctltestgrantedtoken0000000';
const HUB_TOKEN_WITHOUT_ACCESS = 'hf_modelctltestdeniedtoken00000000';
const TREE_PAGE_SIZE = 10;

/** Where a started Hub listens. */
export interface HubEndpoints {
  url: string;
  cdnUrl: string;
  adminUrl: string;
}

/**
 * Starts the local Hub on `reposDir` as a child process of `run` (log `<runDir>/<name>.log`), on free ports it
 * picks itself. For benchmarks and tests that want their own Hub; global setup's is {@link startHub}.
 */
export async function spawnHubServer(
  run: PeerRun,
  params: {
    reposDir: string;
    /** HubServerOptions fields: tokens, treePageSize, rateLimits, cdnUrlTtlSeconds @default {} */
    options?: Record<string, unknown>;
    /** @default "hub" */
    name?: string;
  },
): Promise<HubEndpoints> {
  const name = params.name ?? 'hub';
  const configFile = path.join(run.runDir, `${name}-config.json`);
  writeFileSync(configFile, JSON.stringify(params.options ?? {}));
  let listening: HubEndpoints | undefined;
  await run.spawnPeer({
    name,
    command: process.execPath,
    args: [
      '--import',
      path.join(here, '../hub-server/register-ts.ts'),
      path.join(here, '../hub-server/main.ts'),
      '--repos',
      params.reposDir,
      '--config',
      configFile,
    ],
    // the server prints its ports: no race with other peers picking ports meanwhile
    ready: async () => {
      listening ??= readListening(run.info.logs[name]!);
      return listening !== undefined && (await fetch(`${listening.adminUrl}/health`)).ok;
    },
    timeoutMs: 30_000,
  });
  return listening!;
}

/**
 * Builds the fixture repos in `run.runDir/hub-repos` and starts the local Hub as a child process (so tests
 * that block their event loop, e.g. with a synchronous Python call, cannot stall it). Publishes `run.info.hub`.
 */
export async function startHub(run: PeerRun): Promise<void> {
  const reposDir = path.join(run.runDir, 'hub-repos');
  const repos = await buildTestRepos(reposDir);
  const endpoints = await spawnHubServer(run, {
    reposDir,
    options: {
      tokens: {
        [HUB_TOKEN]: { user: 'granted-user', gatedAccess: true },
        [HUB_TOKEN_WITHOUT_ACCESS]: { user: 'denied-user', gatedAccess: false },
      },
      treePageSize: TREE_PAGE_SIZE,
    },
  });
  const info: HubInfo = {
    ...endpoints,
    token: HUB_TOKEN,
    tokenWithoutAccess: HUB_TOKEN_WITHOUT_ACCESS,
    treePageSize: TREE_PAGE_SIZE,
    reposDir,
    repos,
  };
  run.info.hub = info;
}

/** The `{"url","cdnUrl","adminUrl"}` line main.ts prints once listening, if it is in the log yet. */
function readListening(logFile: string): HubEndpoints | undefined {
  if (!existsSync(logFile)) return undefined;
  const line = readFileSync(logFile, 'utf8')
    .split('\n')
    .find((l) => l.startsWith('{"url":'));
  return line ? (JSON.parse(line) as HubEndpoints) : undefined;
}

/** The local Hub published by global setup (throws when it was not started). */
export function readHub(): HubInfo {
  const hub = readPeers().hub as HubInfo | undefined;
  if (!hub) throw new Error('the local Hub is not in the peers file: is startHub registered in test/global-setup.ts?');
  return hub;
}
