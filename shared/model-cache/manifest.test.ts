import { describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readFile, rm, truncate, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { entryKey, entryPaths, isEntryKey } from './cache-layout.js';
import { readLastUsed, touchLastUsed } from './last-used.js';
import { describeFiles, verifyEntry, writeManifest, type Manifest } from './manifest.js';

async function makeEntry(): Promise<{ entryDir: string; cleanup: () => Promise<void> }> {
  const root = await mkdtemp(path.join(tmpdir(), 'modelctl-cache-'));
  const paths = entryPaths(root, entryKey('mlflow', ['http://mlflow', 'mlflow-artifacts:/1/x']));
  await mkdir(path.join(paths.modelDir, 'sub'), { recursive: true });
  await writeFile(path.join(paths.modelDir, 'MLmodel'), 'flavors: {}\n');
  await writeFile(path.join(paths.modelDir, 'sub', 'model.onnx'), Buffer.alloc(1000, 7));
  const manifest: Manifest = {
    format: 1,
    key: paths.key,
    kind: 'mlflow',
    source: { uri: 'models:/x/1', resolved: 'mlflow-artifacts:/1/x' },
    files: await describeFiles(paths.modelDir),
    totalBytes: 1012,
    createdAt: new Date().toISOString(),
    createdBy: { host: 'h', pid: 1 },
  };
  await writeManifest(paths.dir, manifest);
  return { entryDir: paths.dir, cleanup: () => rm(root, { recursive: true, force: true }) };
}

describe('entryKey', () => {
  it('is stable for an identity and differs between identities', () => {
    const a = entryKey('mlflow', ['http://mlflow:5000', 'mlflow-artifacts:/1/models/m-1/artifacts']);
    expect(a).toBe(entryKey('mlflow', ['http://mlflow:5000', 'mlflow-artifacts:/1/models/m-1/artifacts']));
    expect(a).not.toBe(entryKey('mlflow', ['http://other:5000', 'mlflow-artifacts:/1/models/m-1/artifacts']));
    expect(isEntryKey(a)).toBe(true);
    expect(isEntryKey('../etc')).toBe(false);
  });
});

describe('verifyEntry', () => {
  it('accepts a complete entry', async () => {
    const { entryDir, cleanup } = await makeEntry();
    const result = await verifyEntry({ entryDir, mode: 'full' });
    expect(result.problem).toBeNull();
    expect(result.manifest?.files.map((f) => f.path)).toEqual(['MLmodel', 'sub/model.onnx']);
    await cleanup();
  });

  it('detects a truncated file quickly and a changed byte in full mode', async () => {
    const { entryDir, cleanup } = await makeEntry();
    const onnx = path.join(entryDir, 'model', 'sub', 'model.onnx');
    await writeFile(onnx, Buffer.alloc(1000, 8));
    expect((await verifyEntry({ entryDir })).problem).toBeNull();
    expect((await verifyEntry({ entryDir, mode: 'full' })).problem).toEqual({
      reason: 'digest',
      file: 'sub/model.onnx',
    });
    await truncate(onnx, 10);
    expect((await verifyEntry({ entryDir })).problem).toEqual({ reason: 'size', file: 'sub/model.onnx' });
    await cleanup();
  });

  it('calls an entry without a valid manifest incomplete', async () => {
    const { entryDir, cleanup } = await makeEntry();
    const manifestPath = path.join(entryDir, 'manifest.json');
    await writeFile(manifestPath, (await readFile(manifestPath, 'utf8')).slice(0, 40));
    expect((await verifyEntry({ entryDir })).problem).toEqual({ reason: 'no-manifest' });
    await cleanup();
  });
});

describe('touchLastUsed', () => {
  it('records the time of use for cleanup', async () => {
    const { entryDir, cleanup } = await makeEntry();
    const when = new Date('2026-02-03T04:05:06Z');
    await touchLastUsed(entryDir, when);
    expect((await readLastUsed(entryDir))?.toISOString()).toBe(when.toISOString());
    await touchLastUsed(entryDir, new Date('2026-03-01T00:00:00Z'));
    expect((await readLastUsed(entryDir))?.toISOString()).toBe('2026-03-01T00:00:00.000Z');
    await cleanup();
  });
});
