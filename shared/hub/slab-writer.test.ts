import { afterAll, afterEach, beforeEach, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { constants } from 'node:fs';
import { mkdtemp, open, readFile, rm, type FileHandle } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { DiskGuard } from '../disk/disk-guard.js';
import { blobHashSpec, HashPool } from './hash-pool.js';
import { SlabWriter, type BlobProgress } from './slab-writer.js';

const pool = new HashPool(1);
afterAll(() => pool.close());

/** over three slabs of 1 MiB */
const data = randomBytes(3 * 1024 * 1024 + 777);
let dir: string;
let file: string;
let handle: FileHandle;

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), 'modelctl-slab-writer-'));
  file = path.join(dir, 'part');
  handle = await open(file, 'w+');
});
afterEach(async () => {
  await handle.close().catch(() => undefined);
  await rm(dir, { recursive: true, force: true });
});

function progressFrom(offset: number): BlobProgress {
  return { offset, hash: pool.stream(blobHashSpec({ isLfs: true, size: data.length })), networkBytes: 0 };
}

/** Feeds `bytes` the way a socket does: read straight into the free space, `step` bytes at a time. */
async function readInto(writer: SlabWriter, bytes: Buffer, step: number): Promise<void> {
  for (let at = 0; at < bytes.length;) {
    let space = writer.space();
    while (space === null) {
      await writer.ready();
      space = writer.space();
    }
    const n = bytes.copy(space, 0, at, Math.min(at + step, bytes.length));
    writer.commit(n);
    at += n;
  }
}

/** `real`, counting the writes that went through it (and those it refused). */
function counted(real: FileHandle, refuse?: string): { handle: FileHandle; writes: number; refused: number } {
  const c = { handle: real, writes: 0, refused: 0 };
  c.handle = new Proxy(real, {
    get(target, prop) {
      if (prop !== 'write') return Reflect.get(target, prop, target) as unknown;
      return async (...args: Parameters<FileHandle['write']>) => {
        if (refuse !== undefined) {
          c.refused++;
          throw Object.assign(new Error('refused'), { code: refuse });
        }
        const done = await target.write(...args);
        c.writes++;
        return done;
      };
    },
  });
  return c;
}

describe('SlabWriter', () => {
  it('writes what is read into its slabs in order, and hashes exactly that', async () => {
    const progress = progressFrom(0);
    const landed: number[] = [];
    const writer = new SlabWriter({ handle, progress, onBytes: (n) => landed.push(n) });
    await readInto(writer, data, 100_003);
    await writer.flush();
    expect(progress.offset).toBe(data.length);
    expect(landed.reduce((a, b) => a + b, 0)).toBe(data.length);
    expect((await readFile(file)).equals(data)).toBe(true);
    expect(await progress.hash.digest()).toBe(createHash('sha256').update(data).digest('hex'));
  });

  it('writes full slabs through the O_DIRECT handle, from aligned memory, and the last one through the page cache', async () => {
    const direct = counted(await open(file, constants.O_WRONLY | constants.O_DIRECT));
    const buffered = counted(handle);
    try {
      const progress = progressFrom(0);
      const writer = new SlabWriter({ handle: buffered.handle, directHandle: direct.handle, progress });
      await readInto(writer, data, 100_003);
      await writer.flush();
      expect((await readFile(file)).equals(data)).toBe(true);
      expect(await progress.hash.digest()).toBe(createHash('sha256').update(data).digest('hex'));
      // 3 MiB + 777 bytes: three full slabs of 1 MiB (the kernel refuses unaligned memory: EINVAL), one short
      expect([direct.writes, buffered.writes]).toEqual([3, 1]);
    } finally {
      await direct.handle.close();
    }
  });

  it('gathers a file smaller than one slab in 64 KiB slabs', async () => {
    const small = data.subarray(0, 150_000);
    const buffered = counted(handle);
    const progress = progressFrom(0);
    const writer = new SlabWriter({ handle: buffered.handle, progress, fileBytes: small.length });
    await readInto(writer, small, 20_000);
    await writer.flush();
    expect((await readFile(file)).equals(small)).toBe(true);
    expect(await progress.hash.digest()).toBe(createHash('sha256').update(small).digest('hex'));
    // 64 KiB + 64 KiB + the rest
    expect(buffered.writes).toBe(3);
  });

  it('falls back to the page cache when the file system refuses O_DIRECT writes', async () => {
    const direct = counted(handle, 'EINVAL');
    const progress = progressFrom(0);
    const writer = new SlabWriter({ handle, directHandle: direct.handle, progress });
    await readInto(writer, data, 100_003);
    await writer.flush();
    expect((await readFile(file)).equals(data)).toBe(true);
    expect(await progress.hash.digest()).toBe(createHash('sha256').update(data).digest('hex'));
    expect(direct.refused).toBe(1);
  });

  it('copies pushed chunks, and continues a file from its offset', async () => {
    const head = data.subarray(0, 5000);
    await handle.write(head, 0, head.length, 0);
    const progress = progressFrom(head.length);
    progress.hash.dispose();
    progress.hash = pool.stream(blobHashSpec({ isLfs: true, size: data.length }));
    const writer = new SlabWriter({ handle, progress });
    for (let at = head.length; at < data.length; at += 65_536) {
      const wait = writer.push(data.subarray(at, Math.min(at + 65_536, data.length)));
      if (wait) await wait;
    }
    await writer.flush();
    expect(progress.offset).toBe(data.length);
    expect((await readFile(file)).equals(data)).toBe(true);
    // the hash saw only what this writer wrote
    expect(await progress.hash.digest()).toBe(createHash('sha256').update(data.subarray(head.length)).digest('hex'));
  });

  it('writes nothing after a refused slab: the file and the hash stop at the last slab written', async () => {
    let free = 100 * 1024 * 1024;
    // the disk "fills" once the first slab is through
    const diskGuard = new DiskGuard({
      dir,
      minFreeBytes: 1,
      freeBytes: async () => {
        const now = free;
        free = 0;
        return now;
      },
    });
    const progress = progressFrom(0);
    const writer = new SlabWriter({ handle, progress, diskGuard });
    const reading = readInto(writer, data, 262_144).catch((err: unknown) => err);
    await expect(writer.flush()).rejects.toMatchObject({ code: 'NO_SPACE' });
    await reading;
    const onDisk = await readFile(file);
    expect(progress.offset).toBeGreaterThan(0);
    expect(progress.offset).toBeLessThan(data.length);
    expect(onDisk.length).toBe(progress.offset);
    expect(onDisk.equals(data.subarray(0, progress.offset))).toBe(true);
    expect(await progress.hash.digest()).toBe(createHash('sha256').update(onDisk).digest('hex'));
  });

  it('reports a failed write and writes nothing after it', async () => {
    await handle.close();
    handle = await open(file, 'r');
    const progress = progressFrom(0);
    const writer = new SlabWriter({ handle, progress });
    const reading = readInto(writer, data, 262_144).catch((err: unknown) => err);
    expect(await reading).toMatchObject({ code: 'EBADF' });
    await expect(writer.flush()).rejects.toMatchObject({ code: 'EBADF' });
    expect(progress.offset).toBe(0);
    expect((await readFile(file)).length).toBe(0);
  });
});
