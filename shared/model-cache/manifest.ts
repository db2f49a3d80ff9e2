import { createHash } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { open, readdir, rename, stat } from 'node:fs/promises';
import { readRegularFile } from './read-regular-file.js';
import path from 'node:path';
import { pipeline } from 'node:stream/promises';
import { z } from 'zod';
import { CACHE_FORMAT_VERSION, ENTRY_MANIFEST, ENTRY_MODEL_DIR } from './cache-layout.js';

/**
 * `entries/<key>/manifest.json`: the proof an entry is complete. Written last (temp name + fsync + rename)
 * inside the entry's temp folder, then the whole folder is renamed into `entries/`.
 * `files[].path` are POSIX paths relative to `model/`.
 */
export const Manifest = z.object({
  format: z.literal(CACHE_FORMAT_VERSION),
  key: z.string(),
  kind: z.enum(['mlflow', 'hf']),
  /** what was asked and what it resolved to (credential-free), for humans and cleanup reports */
  source: z.object({
    uri: z.string(),
    server: z.string().optional(),
    resolved: z.string(),
    name: z.string().optional(),
    version: z.string().optional(),
  }),
  files: z.array(
    z.object({ path: z.string(), size: z.number().int().nonnegative(), sha256: z.string().regex(/^[0-9a-f]{64}$/) }),
  ),
  totalBytes: z.number().int().nonnegative(),
  /** ISO time the entry was completed */
  createdAt: z.string(),
  createdBy: z.object({ host: z.string(), pid: z.number().int() }),
});
export type Manifest = z.infer<typeof Manifest>;
export type ManifestFile = Manifest['files'][number];

/** Writes `manifest.json` into `entryDir` under a temp name, fsyncs it, then renames it into place. */
export async function writeManifest(entryDir: string, manifest: Manifest): Promise<void> {
  const final = path.join(entryDir, ENTRY_MANIFEST);
  const temp = `${final}.tmp-${process.pid}`;
  const handle = await open(temp, 'wx');
  try {
    await handle.writeFile(JSON.stringify(manifest, null, 2));
    await handle.sync();
  } finally {
    await handle.close();
  }
  await rename(temp, final);
}

/** A manifest lists every file with its sha256: 64 MiB is far beyond any model's. */
const MAX_MANIFEST_BYTES = 64 * 1024 * 1024;

/** Reads and validates an entry's manifest; null when it is missing or not a valid manifest. */
export async function readManifest(entryDir: string): Promise<Manifest | null> {
  // never a blocking read: a FIFO in place of the manifest is "no manifest"
  const text = await readRegularFile(path.join(entryDir, ENTRY_MANIFEST), MAX_MANIFEST_BYTES);
  if (text === null) return null;
  try {
    const parsed = Manifest.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

/** Why an entry is not usable, or null when it is. */
export type EntryProblem = { reason: 'no-manifest' } | { reason: 'missing' | 'size' | 'digest'; file: string };

/**
 * Checks an entry against its manifest. `quick` (the hit path) checks that every file exists with its size;
 * `full` also recomputes every sha256 (reads all bytes).
 * @returns the first problem found, or null when the entry is complete
 */
export async function verifyEntry(params: {
  entryDir: string;
  /** @default 'quick' */
  mode?: 'quick' | 'full';
}): Promise<{ manifest: Manifest; problem: null } | { manifest: Manifest | null; problem: EntryProblem }> {
  const manifest = await readManifest(params.entryDir);
  if (manifest === null) return { manifest, problem: { reason: 'no-manifest' } };
  const modelDir = path.join(params.entryDir, ENTRY_MODEL_DIR);
  const problems = await Promise.all(manifest.files.map((f) => checkFile(modelDir, f, params.mode ?? 'quick')));
  const problem = problems.find((p) => p !== null) ?? null;
  return problem === null ? { manifest, problem } : { manifest, problem };
}

async function checkFile(modelDir: string, file: ManifestFile, mode: 'quick' | 'full'): Promise<EntryProblem | null> {
  const full = path.join(modelDir, file.path);
  const info = await stat(full).catch(() => null);
  if (info === null || !info.isFile()) return { reason: 'missing', file: file.path };
  if (info.size !== file.size) return { reason: 'size', file: file.path };
  if (mode === 'full' && (await sha256File(full)) !== file.sha256) return { reason: 'digest', file: file.path };
  return null;
}

/** sha256 of a file's bytes, hex. */
async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/**
 * Lists every regular file under `modelDir` with size and sha256 (for a manifest of files that did not come
 * with digests, e.g. a local copy). Symlinks are refused: an entry holds real bytes.
 */
export async function describeFiles(modelDir: string): Promise<ManifestFile[]> {
  const entries = await readdir(modelDir, { recursive: true, withFileTypes: true });
  const files: ManifestFile[] = [];
  for (const e of entries) {
    if (e.isSymbolicLink()) throw new Error(`symlink in model folder: ${path.join(e.parentPath, e.name)}`);
    if (!e.isFile()) continue;
    const full = path.join(e.parentPath, e.name);
    const rel = path.relative(modelDir, full).split(path.sep).join('/');
    files.push({ path: rel, size: (await stat(full)).size, sha256: await sha256File(full) });
  }
  return files.sort((a, b) => a.path.localeCompare(b.path));
}
