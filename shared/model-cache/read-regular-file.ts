import { constants } from 'node:fs';
import { open } from 'node:fs/promises';

/**
 * The text of `file` when it is a regular file of at most `maxBytes`, else null (missing, a symlink, a FIFO, a
 * socket, a device, a folder, too large). Opened non-blocking and without following a symlink, so a FIFO or a
 * device planted in the cache can never make a reader wait forever (issue 14).
 */
export async function readRegularFile(file: string, maxBytes: number): Promise<string | null> {
  const handle = await open(file, constants.O_RDONLY | constants.O_NONBLOCK | constants.O_NOFOLLOW).catch(() => null);
  if (handle === null) return null;
  try {
    const info = await handle.stat();
    if (!info.isFile() || info.size > maxBytes) return null;
    return await handle.readFile('utf8');
  } finally {
    await handle.close();
  }
}
