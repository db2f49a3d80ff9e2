import { createRepo, readRepoState, renameRepo, setRef, type FileSource } from './repo-store.js';

/** What tests know about a fixture repo at one commit. */
export interface FixtureRepo {
  id: string;
  /** the commit `main` points to */
  commit: string;
  tags: Record<string, string>;
  gated: false | 'auto' | 'manual';
  private: boolean;
  /**
   * per file: content size and sha256; `oid` as the tree lists it (git sha1 of the content, or of the LFS
   * pointer); `etag` = the cache's blob name (sha256 for LFS files, git blob sha1 otherwise)
   */
  files: Record<string, { size: number; sha256: string; oid: string; etag: string; lfs: boolean }>;
}

/** The repos of the integration tests (ids are stable; commits are deterministic). */
export const TEST_REPOS = {
  tiny: 'test-org/tiny-model',
  manyFiles: 'test-org/many-files',
  gated: 'test-org/gated-model',
  private: 'test-org/private-model',
  hostile: 'test-org/hostile-names',
  renamed: 'test-org/renamed-model',
  renamedFrom: 'test-org/old-name',
} as const;

const MiB = 1024 * 1024;

function json(value: unknown): string {
  return `${JSON.stringify(value, null, 2)}\n`;
}

function tinyModelFiles(): Record<string, FileSource> {
  return {
    'config.json': json({ architectures: ['TinyModel'], hidden_size: 64, model_type: 'tiny' }),
    'generation_config.json': json({ max_new_tokens: 16 }),
    'tokenizer.json': json({ version: '1.0', model: { type: 'BPE', vocab: { a: 0, b: 1 } } }),
    'README.md': '# tiny-model\n\nA fixture of the modelctl tests.\n',
    'sub/dir/file.txt': 'nested file\n',
    // a space and a non-ASCII letter: clients must percent-encode paths in resolve URLs
    'docs/read me ü.txt': 'a file name that needs encoding\n',
    'model.safetensors.index.json': json({
      weight_map: { a: 'model-00001-of-00002.safetensors', b: 'model-00002-of-00002.safetensors' },
    }),
    'model-00001-of-00002.safetensors': { size: 3 * MiB, seed: 'tiny-1' },
    'model-00002-of-00002.safetensors': { size: 2 * MiB + 123, seed: 'tiny-2' },
  };
}

function manyFiles(count: number): Record<string, FileSource> {
  const files: Record<string, FileSource> = { 'config.json': json({ model_type: 'many' }) };
  for (let i = 0; i < count; i++) {
    const dir = i % 3 === 0 ? 'a/' : i % 3 === 1 ? 'b/c/' : '';
    files[`${dir}file-${String(i).padStart(3, '0')}.txt`] = `file ${i}\n`.repeat(i + 1);
  }
  return files;
}

/** Reads what a test needs to know about a repo at `main` (or `commit`). */
export function describeRepo(root: string, repo: string, commit?: string): FixtureRepo {
  const state = readRepoState(root, repo);
  if (!state) throw new Error(`no repo ${repo}`);
  const sha = commit ?? state.branches.main!;
  const files: FixtureRepo['files'] = {};
  for (const [p, f] of Object.entries(state.commits[sha]!.files)) {
    files[p] = { size: f.size, sha256: f.sha256, oid: f.oid, etag: f.lfs ? f.sha256 : f.oid, lfs: f.lfs };
  }
  return { id: state.id, commit: sha, tags: state.tags, gated: state.gated, private: state.private, files };
}

/**
 * Builds the integration tests' repos under `root` (a few MB, about a second).
 */
export async function buildTestRepos(root: string): Promise<Record<keyof typeof TEST_REPOS, FixtureRepo>> {
  const tiny = await createRepo({ root, repo: TEST_REPOS.tiny, files: tinyModelFiles() });
  await setRef({ root, repo: TEST_REPOS.tiny, kind: 'tag', name: 'v1.0', commit: tiny.branches.main! });
  await createRepo({ root, repo: TEST_REPOS.manyFiles, files: manyFiles(50) });
  await createRepo({
    root,
    repo: TEST_REPOS.gated,
    gated: 'manual',
    files: { 'config.json': json({ model_type: 'gated' }), 'model.safetensors': { size: MiB, seed: 'gated' } },
  });
  await createRepo({
    root,
    repo: TEST_REPOS.private,
    private: true,
    files: { 'config.json': json({ model_type: 'private' }) },
  });
  await createRepo({
    root,
    repo: TEST_REPOS.hostile,
    files: {
      'config.json': json({ model_type: 'hostile' }),
      '../escape.txt': 'climbs out\n',
      '/etc/passwd-x': 'absolute\n',
      'a\\b.txt': 'backslash\n',
    },
  });
  await createRepo({
    root,
    repo: TEST_REPOS.renamedFrom,
    files: { 'config.json': json({ model_type: 'renamed' }), 'weights.bin': { size: MiB, seed: 'renamed' } },
  });
  await renameRepo({ root, from: TEST_REPOS.renamedFrom, to: TEST_REPOS.renamed });
  const out = {} as Record<keyof typeof TEST_REPOS, FixtureRepo>;
  for (const [key, id] of Object.entries(TEST_REPOS) as [keyof typeof TEST_REPOS, string][]) {
    out[key] = describeRepo(root, id === TEST_REPOS.renamedFrom ? TEST_REPOS.renamed : id);
  }
  return out;
}

/**
 * Builds a big repo for benchmarks: `fileCount` LFS files of `fileSize` bytes (deterministic content,
 * generated at ~1 GB/s) plus a config.json. Reuses the repo when it already has this shape.
 */
export async function buildBenchRepo(params: {
  root: string;
  /** @default "bench-org/big-model" */
  repo?: string;
  fileCount: number;
  fileSize: number;
  /** small (git, not LFS) files besides config.json, 0.5–64 KiB each, as tokenizers and configs are @default 0 */
  smallFiles?: number;
}): Promise<FixtureRepo> {
  const repo = params.repo ?? 'bench-org/big-model';
  const files: Record<string, FileSource> = { 'config.json': json({ model_type: 'bench' }) };
  for (let i = 1; i <= params.fileCount; i++) {
    const name = `model-${String(i).padStart(5, '0')}-of-${String(params.fileCount).padStart(5, '0')}.safetensors`;
    files[name] = { size: params.fileSize, seed: `${repo}-${i}-${params.fileSize}` };
  }
  for (let i = 1; i <= (params.smallFiles ?? 0); i++) {
    const size = 512 + ((i * 7919) % (64 * 1024 - 512));
    files[`extra/part-${String(i).padStart(5, '0')}.txt`] = { size, seed: `${repo}-small-${i}` };
  }
  const existing = readRepoState(params.root, repo);
  const main = existing?.branches.main ? existing.commits[existing.branches.main] : undefined;
  const same =
    main &&
    Object.keys(main.files).length === Object.keys(files).length &&
    Object.entries(files).every(
      ([p, src]) => main.files[p] && (typeof src !== 'object' || !('size' in src) || main.files[p]!.size === src.size),
    );
  if (!same) await createRepo({ root: params.root, repo, files });
  return describeRepo(params.root, repo);
}
