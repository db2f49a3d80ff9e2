import { createCipheriv, createHash, type Hash } from 'node:crypto';
import { createWriteStream, statSync, readFileSync } from 'node:fs';
import { mkdir, rename, rm, writeFile } from 'node:fs/promises';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { Readable } from 'node:stream';

/**
 * On-disk store of the local Hub's repositories. Layout under `root`:
 *
 *   <org>/<name>/repo.json          RepoState (refs, commits with per-file hashes), written atomically
 *   <org>/<name>/objects/<git-oid>  file contents, content-addressed by git blob sha1 (shared across commits)
 *
 * The server re-reads repo.json when it changes, so tests can commit, move branches or rename repos on disk
 * (from any process) while the server runs.
 */

/** One file of a commit, with every hash the Hub protocol exposes. */
export interface StoredFile {
  size: number;
  /** git blob sha1 of the content, or of the LFS pointer file for LFS files (as the Hub's tree `oid`) */
  oid: string;
  /** the object's name under objects/: git blob sha1 of the content for regular files, sha256 for LFS files */
  contentOid: string;
  /** sha256 of the content (exposed as tree `lfs.oid` and `X-Linked-Etag` for LFS files only) */
  sha256: string;
  /** size of the LFS pointer file */
  pointerSize?: number;
  /** the CDN's ETag: an md5-looking value derived from the sha256 (S3 ETags are not the sha256 either) */
  md5: string;
  lfs: boolean;
}

export interface StoredCommit {
  parent: string | null;
  message: string;
  date: string;
  files: Record<string, StoredFile>;
}

export interface LfsRule {
  /** fnmatch-like patterns on the basename (`*.safetensors`), as in `.gitattributes` */
  patterns: string[];
  /** any file at least this big is LFS too */
  minSize: number;
}

export interface RepoState {
  id: string;
  /** false, or "auto" | "manual" as the Hub reports it */
  gated: false | 'auto' | 'manual';
  private: boolean;
  /** set on the stub left behind by {@link renameRepo}: requests get a relative 307 to the new name */
  renamedTo?: string;
  lfs: LfsRule;
  createdAt: string;
  branches: Record<string, string>;
  tags: Record<string, string>;
  commits: Record<string, StoredCommit>;
}

/** Content of a file to commit: literal bytes/text, or `size` deterministic pseudo-random bytes from `seed`. */
export type FileSource = string | Buffer | { size: number; seed: string };

const DEFAULT_LFS_RULE: LfsRule = {
  patterns: ['*.safetensors', '*.bin', '*.onnx', '*.gguf', '*.pt', '*.h5', '*.msgpack'],
  minSize: 10 * 1024 * 1024,
};

const REPO_FILE = 'repo.json';

function repoDir(root: string, repo: string): string {
  return path.join(root, ...repo.split('/'));
}

/** Reads a repo's state, or null when there is no such repo. */
export function readRepoState(root: string, repo: string): RepoState | null {
  if (!isSafeRepoId(repo)) return null;
  try {
    return JSON.parse(readFileSync(path.join(repoDir(root, repo), REPO_FILE), 'utf8')) as RepoState;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** Change stamp of a repo's state file, for caches (null when missing). */
export function repoStateStamp(root: string, repo: string): string | null {
  try {
    const st = statSync(path.join(repoDir(root, repo), REPO_FILE));
    return `${st.ino}:${st.mtimeMs}:${st.size}`;
  } catch {
    return null;
  }
}

/** `org/name` made of safe characters only (never climbs out of `root`). */
function isSafeRepoId(repo: string): boolean {
  return /^[A-Za-z0-9][A-Za-z0-9._-]*\/[A-Za-z0-9][A-Za-z0-9._-]*$/.test(repo) && !repo.includes('..');
}

/** Path of the stored content of a file. */
export function objectPath(root: string, repo: string, contentOid: string): string {
  return path.join(repoDir(root, repo), 'objects', contentOid);
}

async function writeState(root: string, state: RepoState): Promise<void> {
  const dir = repoDir(root, state.id);
  await mkdir(dir, { recursive: true });
  const tmp = path.join(dir, `.${REPO_FILE}.${process.pid}.${Date.now()}.tmp`);
  await writeFile(tmp, JSON.stringify(state, null, 1));
  await rename(tmp, path.join(dir, REPO_FILE));
}

/** git's blob id: sha1("blob <size>\0" + content). */
function gitBlobHeader(size: number): string {
  return `blob ${size}\0`;
}

/** The Git LFS pointer file of a content (what git stores in place of an LFS file). */
export function lfsPointer(sha256: string, size: number): string {
  return `version https://git-lfs.github.com/spec/v1\noid sha256:${sha256}\nsize ${size}\n`;
}

function sha1Hex(data: string | Buffer): string {
  return createHash('sha1').update(data).digest('hex');
}

/** Deterministic pseudo-random bytes (AES-CTR keystream of `seed`): fast enough for GB fixtures. */
function deterministicStream(size: number, seed: string): Readable {
  const key = createHash('sha256').update(`key:${seed}`).digest().subarray(0, 16);
  const iv = createHash('sha256').update(`iv:${seed}`).digest().subarray(0, 16);
  const cipher = createCipheriv('aes-128-ctr', key, iv);
  const chunk = Buffer.alloc(1024 * 1024);
  let left = size;
  return new Readable({
    read() {
      if (left <= 0) {
        this.push(null);
        return;
      }
      const n = Math.min(left, chunk.length);
      left -= n;
      this.push(cipher.update(chunk.subarray(0, n)));
    },
  });
}

function sourceStream(source: FileSource): { stream: Readable; size: number } {
  if (typeof source === 'string' || Buffer.isBuffer(source)) {
    const buf = Buffer.isBuffer(source) ? source : Buffer.from(source);
    return { stream: Readable.from([buf]), size: buf.length };
  }
  return { stream: deterministicStream(source.size, source.seed), size: source.size };
}

function isLfsPath(file: string, size: number, rule: LfsRule): boolean {
  const base = file.split('/').pop() ?? file;
  return size >= rule.minSize || rule.patterns.some((p) => globToRegExp(p).test(base));
}

function globToRegExp(glob: string): RegExp {
  const escaped = glob
    .replace(/[.+^${}()|[\]\\]/g, '\\$&')
    .replace(/\*/g, '.*')
    .replace(/\?/g, '.');
  return new RegExp(`^${escaped}$`);
}

/** Writes one file into objects/ (content-addressed) and returns its hashes. */
async function storeObject(params: {
  root: string;
  repo: string;
  file: string;
  source: FileSource;
  lfs: LfsRule;
}): Promise<StoredFile> {
  const { stream, size } = sourceStream(params.source);
  const objects = path.join(repoDir(params.root, params.repo), 'objects');
  await mkdir(objects, { recursive: true });
  const tmp = path.join(objects, `.tmp-${process.pid}-${Math.random().toString(36).slice(2)}`);
  // LFS-ness is known before reading (name and size): big files get one hash, sha256, not three
  const lfs = isLfsPath(params.file, size, params.lfs);
  const sha256Hash = createHash('sha256');
  const hashes: Hash[] = lfs ? [sha256Hash] : [sha256Hash, createHash('sha1').update(gitBlobHeader(size))];
  await pipeline(
    stream,
    async function* hashAll(source: AsyncIterable<Buffer>) {
      for await (const chunk of source) {
        for (const h of hashes) h.update(chunk);
        yield chunk;
      }
    },
    createWriteStream(tmp),
  );
  const [sha256, gitOid] = hashes.map((h) => h.digest('hex')) as [string, string | undefined];
  const md5 = createHash('md5').update(sha256).digest('hex');
  const contentOid = gitOid ?? sha256;
  await rename(tmp, path.join(objects, contentOid));
  if (!lfs) return { size, oid: contentOid, contentOid, sha256, md5, lfs: false };
  const pointer = lfsPointer(sha256, size);
  const pointerOid = sha1Hex(Buffer.concat([Buffer.from(gitBlobHeader(pointer.length)), Buffer.from(pointer)]));
  return { size, oid: pointerOid, contentOid, sha256, pointerSize: pointer.length, md5, lfs: true };
}

/** Deterministic commit id: sha1 of repo, parent, message and the sorted (path, oid) list. */
function commitId(repo: string, parent: string | null, message: string, files: Record<string, StoredFile>): string {
  const listing = Object.keys(files)
    .sort()
    .map((p) => `${p}\0${files[p]!.oid}`)
    .join('\n');
  return sha1Hex(`repo ${repo}\nparent ${parent ?? '-'}\nmessage ${message}\n${listing}`);
}

/**
 * Creates a repo with a first commit on `main` (replacing any repo of that name).
 * @returns the state, whose `branches.main` is the first commit
 */
export async function createRepo(params: {
  root: string;
  repo: string;
  files: Record<string, FileSource>;
  /** @default false */
  gated?: false | 'auto' | 'manual';
  /** @default false */
  private?: boolean;
  /** @default DEFAULT_LFS_RULE */
  lfs?: LfsRule;
  /** @default "initial commit" */
  message?: string;
}): Promise<RepoState> {
  if (!isSafeRepoId(params.repo)) throw new Error(`unsafe repo id ${params.repo}`);
  await rm(repoDir(params.root, params.repo), { recursive: true, force: true });
  const state: RepoState = {
    id: params.repo,
    gated: params.gated ?? false,
    private: params.private ?? false,
    lfs: params.lfs ?? DEFAULT_LFS_RULE,
    createdAt: new Date(Date.UTC(2026, 0, 1)).toISOString(),
    branches: {},
    tags: {},
    commits: {},
  };
  return commitToState({ root: params.root, state, branch: 'main', files: params.files, message: params.message });
}

/**
 * Commits changes on top of `branch` (default `main`) and moves the branch to the new commit.
 * @returns the new commit id
 */
export async function commitFiles(params: {
  root: string;
  repo: string;
  files: Record<string, FileSource>;
  /** paths to remove */
  deletions?: string[];
  /** @default "main" */
  branch?: string;
  message?: string;
}): Promise<string> {
  const state = readRepoState(params.root, params.repo);
  if (!state) throw new Error(`no repo ${params.repo}`);
  const next = await commitToState({ ...params, state, branch: params.branch ?? 'main' });
  return next.branches[params.branch ?? 'main']!;
}

async function commitToState(params: {
  root: string;
  state: RepoState;
  branch: string;
  files: Record<string, FileSource>;
  deletions?: string[] | undefined;
  message?: string | undefined;
}): Promise<RepoState> {
  const { state } = params;
  const parent = state.branches[params.branch] ?? null;
  const gone = new Set(params.deletions ?? []);
  const files: Record<string, StoredFile> = Object.fromEntries(
    Object.entries(parent ? state.commits[parent]!.files : {}).filter(([p]) => !gone.has(p)),
  );
  for (const [file, source] of Object.entries(params.files)) {
    files[file] = await storeObject({ root: params.root, repo: state.id, file, source, lfs: state.lfs });
  }
  const message = params.message ?? (parent ? 'update files' : 'initial commit');
  const sha = commitId(state.id, parent, message, files);
  const date = new Date(Date.UTC(2026, 0, 1) + Object.keys(state.commits).length * 60_000).toISOString();
  state.commits[sha] = { parent, message, date, files };
  state.branches[params.branch] = sha;
  await writeState(params.root, state);
  return state;
}

/** Points a branch or tag at an existing commit (creates it if missing). */
export async function setRef(params: {
  root: string;
  repo: string;
  kind: 'branch' | 'tag';
  name: string;
  commit: string;
}): Promise<void> {
  const state = readRepoState(params.root, params.repo);
  if (!state) throw new Error(`no repo ${params.repo}`);
  if (!state.commits[params.commit]) throw new Error(`no commit ${params.commit} in ${params.repo}`);
  (params.kind === 'branch' ? state.branches : state.tags)[params.name] = params.commit;
  await writeState(params.root, state);
}

/** Changes repo settings (gating, privacy) in place. */
export async function updateRepo(params: {
  root: string;
  repo: string;
  gated?: false | 'auto' | 'manual';
  private?: boolean;
}): Promise<void> {
  const state = readRepoState(params.root, params.repo);
  if (!state) throw new Error(`no repo ${params.repo}`);
  if (params.gated !== undefined) state.gated = params.gated;
  if (params.private !== undefined) state.private = params.private;
  await writeState(params.root, state);
}

/** Renames a repo as the Hub does: the old name keeps answering, with redirects to the new one. */
export async function renameRepo(params: { root: string; from: string; to: string }): Promise<void> {
  const state = readRepoState(params.root, params.from);
  if (!state) throw new Error(`no repo ${params.from}`);
  if (!isSafeRepoId(params.to)) throw new Error(`unsafe repo id ${params.to}`);
  await mkdir(path.dirname(repoDir(params.root, params.to)), { recursive: true });
  await rename(repoDir(params.root, params.from), repoDir(params.root, params.to));
  await writeState(params.root, { ...state, id: params.to });
  const stub: RepoState = { ...state, renamedTo: params.to, branches: {}, tags: {}, commits: {} };
  await writeState(params.root, stub);
}
