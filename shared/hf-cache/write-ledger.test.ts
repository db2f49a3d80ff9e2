import { describe, expect, it } from '@jest/globals';
import { mkdtemp, readFile, readdir } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { readLedger, updateLedger } from './write-ledger.js';

const REPO = 'org/model';

async function stateDir(): Promise<string> {
  return mkdtemp(path.join(tmpdir(), 'ledger-'));
}

/** The ledger as a fresh process would read it from disk right now. */
async function onDisk(dir: string): Promise<{ blobs: string[] }> {
  return JSON.parse(await readFile(path.join(dir, 'owned', 'models--org--model.json'), 'utf8')) as { blobs: string[] };
}

describe('updateLedger', () => {
  it('has each change on disk by the time its promise resolves, when many run at once', async () => {
    const dir = await stateDir();
    const etags = Array.from({ length: 64 }, (_, i) => `e${i}`);
    const seen: boolean[] = [];
    await Promise.all(
      etags.map(async (etag, i) => {
        // spread over several ticks, as downloads finish: some join a running write, some start one
        await new Promise((r) => setTimeout(r, i % 7));
        await updateLedger(dir, REPO, (l) => void l.blobs.push(etag));
        seen.push((await onDisk(dir)).blobs.includes(etag));
      }),
    );
    expect(seen).toEqual(etags.map(() => true));
    expect((await readLedger(dir, REPO)).blobs.sort()).toEqual([...etags].sort());
    // only the ledger itself is left: no temp file
    expect(await readdir(path.join(dir, 'owned'))).toEqual(['models--org--model.json']);
  });

  it('keeps the others when one change throws, and gives the error to its caller alone', async () => {
    const dir = await stateDir();
    await updateLedger(dir, REPO, (l) => void l.refs.push('main'));
    const results = await Promise.allSettled([
      updateLedger(dir, REPO, (l) => void l.blobs.push('a')),
      updateLedger(dir, REPO, (l) => {
        l.blobs.push('half');
        throw new Error('bad change');
      }),
      updateLedger(dir, REPO, (l) => void l.links.push('c/x')),
    ]);
    expect(results.map((r) => r.status)).toEqual(['fulfilled', 'rejected', 'fulfilled']);
    expect(await readLedger(dir, REPO)).toEqual({ blobs: ['a'], links: ['c/x'], refs: ['main'] });
  });

  it('rejects every change of a write that fails, and writes again afterwards', async () => {
    const dir = await stateDir();
    // the ledger's folder is a file: the write fails
    const file = path.join(dir, 'blocked');
    await import('node:fs/promises').then((fs) => fs.writeFile(file, 'x'));
    await expect(updateLedger(file, REPO, (l) => void l.blobs.push('a'))).rejects.toThrow();
    await updateLedger(dir, REPO, (l) => void l.blobs.push('b'));
    expect((await readLedger(dir, REPO)).blobs).toEqual(['b']);
  });
});
