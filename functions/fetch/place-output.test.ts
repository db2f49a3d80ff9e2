import { describe, expect, it } from '@jest/globals';
import { mkdir, mkdtemp, readFile, readdir, readlink, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { linkModelIntoOutput, publishDirectory, publishSymlink, stagingName } from './place-output.js';

async function modelFolder(dir: string, files: Record<string, string>): Promise<void> {
  for (const [name, text] of Object.entries(files)) {
    await mkdir(path.dirname(path.join(dir, name)), { recursive: true });
    await writeFile(path.join(dir, name), text);
  }
}

describe('publishDirectory', () => {
  it('replaces an earlier model in one rename and leaves no staging folder', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'modelctl-place-'));
    const target = path.join(out, 'model');
    await modelFolder(target, { MLmodel: 'old' });
    const staged = stagingName(target, 'staging');
    await modelFolder(staged, { MLmodel: 'new' });
    await publishDirectory(staged, target);
    expect(await readFile(path.join(target, 'MLmodel'), 'utf8')).toBe('new');
    expect(await readdir(out)).toEqual(['model']);
    await rm(out, { recursive: true });
  });
});

describe('publishSymlink', () => {
  it('turns a real folder from an emptydir run into a link to the cache entry', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'modelctl-place-'));
    const entry = path.join(out, 'entry');
    await modelFolder(entry, { MLmodel: 'cached' });
    await modelFolder(path.join(out, 'model'), { MLmodel: 'old' });
    await publishSymlink(entry, path.join(out, 'model'));
    expect(await readlink(path.join(out, 'model'))).toBe(entry);
    expect((await readdir(out)).sort()).toEqual(['entry', 'model']);
    await rm(out, { recursive: true });
  });
});

describe('linkModelIntoOutput', () => {
  it('shows the model in OUTPUT_PATH itself and drops links of an earlier model', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'modelctl-place-'));
    await modelFolder(path.join(out, 'model'), { MLmodel: 'a', 'old.onnx': 'x' });
    expect(await linkModelIntoOutput(out)).toEqual([]);
    await rm(path.join(out, 'model'), { recursive: true });
    await modelFolder(path.join(out, 'model'), { MLmodel: 'b', 'model.onnx': 'y', 'sub/w.data': 'z' });
    await writeFile(path.join(out, 'notes.txt'), 'user file');
    await modelFolder(path.join(out, 'user-dir'), { x: '1' });
    expect(await linkModelIntoOutput(out)).toEqual([]);
    expect((await readdir(out)).sort()).toEqual(['MLmodel', 'model', 'model.onnx', 'notes.txt', 'sub', 'user-dir']);
    expect(await readFile(path.join(out, 'MLmodel'), 'utf8')).toBe('b');
    expect(await readFile(path.join(out, 'sub', 'w.data'), 'utf8')).toBe('z');
    expect(await readlink(path.join(out, 'model.onnx'))).toBe('model/model.onnx');
    await rm(out, { recursive: true });
  });

  it('reports a name it cannot link because a real file is in the way', async () => {
    const out = await mkdtemp(path.join(tmpdir(), 'modelctl-place-'));
    await modelFolder(path.join(out, 'model'), { MLmodel: 'a' });
    await writeFile(path.join(out, 'MLmodel'), 'someone else');
    expect(await linkModelIntoOutput(out)).toEqual(['MLmodel']);
    expect(await readFile(path.join(out, 'MLmodel'), 'utf8')).toBe('someone else');
    await rm(out, { recursive: true });
  });
});
