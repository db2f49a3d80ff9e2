import { afterAll, describe, expect, it } from '@jest/globals';
import { createHash, randomBytes } from 'node:crypto';
import { mkdtemp, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { blobHashSpec, HashPool } from './hash-pool.js';

const pool = new HashPool(2);
afterAll(() => pool.close());

/** Copies `data` into slabs of `slab` bytes, each at its own offset of one shared memory, and hashes them in order. */
async function streamed(spec: ReturnType<typeof blobHashSpec>, data: Buffer, slab: number): Promise<string> {
  const stream = pool.stream(spec);
  const returned: Promise<Error | undefined>[] = [];
  // the slabs in reverse order in the memory: a worker that read from the wrong offset would hash another slab
  const count = Math.ceil(data.length / slab);
  const shared = new SharedArrayBuffer(count * slab);
  for (let i = 0; i < count; i++) {
    const part = data.subarray(i * slab, (i + 1) * slab);
    const offset = (count - 1 - i) * slab;
    part.copy(Buffer.from(shared, offset, slab));
    returned.push(new Promise((resolve) => stream.update(new Uint8Array(shared, offset, part.length), resolve)));
  }
  const digest = await stream.digest();
  expect(await Promise.all(returned)).toEqual(returned.map(() => undefined));
  return digest;
}

describe('HashPool', () => {
  const data = randomBytes(3 * 1024 * 1024 + 123);

  it('hashes LFS content with sha256, in the order of the updates', async () => {
    const expected = createHash('sha256').update(data).digest('hex');
    expect(await streamed(blobHashSpec({ isLfs: true, size: data.length }), data, 256 * 1024 + 7)).toBe(expected);
  });

  it("hashes small files as git blobs (sha1 over 'blob {size}\\0' + content)", async () => {
    const small = Buffer.from('{"model_type":"bench"}\n');
    const expected = createHash('sha1').update(`blob ${small.length}\0`).update(small).digest('hex');
    expect(await streamed(blobHashSpec({ isLfs: false, size: small.length }), small, 1024)).toBe(expected);
  });

  it('resumes from a file prefix and hashes whole files', async () => {
    const dir = await mkdtemp(path.join(tmpdir(), 'modelctl-hash-pool-'));
    try {
      const file = path.join(dir, 'blob');
      await writeFile(file, data);
      const spec = blobHashSpec({ isLfs: true, size: data.length });
      expect(await pool.hashFile(spec, file)).toBe(createHash('sha256').update(data).digest('hex'));
      // the first 1 MiB + 5 from the file, the rest streamed
      const prefix = 1024 * 1024 + 5;
      const stream = await pool.streamFromFile(spec, file, prefix);
      const rest = data.subarray(prefix);
      const shared = new SharedArrayBuffer(rest.length);
      rest.copy(Buffer.from(shared));
      stream.update(new Uint8Array(shared, 0, rest.length), () => undefined);
      expect(await stream.digest()).toBe(createHash('sha256').update(data).digest('hex'));
      await expect(pool.hashFile(spec, path.join(dir, 'missing'))).rejects.toMatchObject({ code: 'ENOENT' });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it('lets a dropped stream go without a digest', async () => {
    const stream = pool.stream(blobHashSpec({ isLfs: true, size: 1 }));
    stream.dispose();
    const other = pool.stream(blobHashSpec({ isLfs: true, size: 0 }));
    expect(await other.digest()).toBe(createHash('sha256').digest('hex'));
  });
});
