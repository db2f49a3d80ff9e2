import { describe, expect, it } from '@jest/globals';
import { HubError } from './hub-error.js';
import { listRepoTree } from './list-repo-files.js';

const HUB = 'http://hub.test';
const COMMIT = 'a'.repeat(40);
const file = (path: string, lfs = false) => ({
  type: 'file',
  path,
  size: 10,
  oid: 'b'.repeat(40),
  ...(lfs ? { lfs: { oid: 'c'.repeat(64), size: 1000, pointerSize: 130 } } : {}),
});

/** A Hub answering from `pages` (url → [status, body, link]) and recording what it was asked. */
function fakeHub(pages: Record<string, [number, unknown, string?]>) {
  const asked: { url: string; auth: string | null }[] = [];
  const fetchFn: typeof fetch = (input, init) => {
    const url = String(input instanceof Request ? input.url : input);
    asked.push({ url, auth: new Headers(init?.headers).get('authorization') });
    const key = Object.keys(pages).find((k) => url.startsWith(k));
    const [status, body, link] = key ? pages[key]! : [404, { error: 'no' }];
    const headers = new Headers({ 'content-type': 'application/json' });
    if (link) headers.set('link', `<${link}>; rel="next"`);
    return Promise.resolve(new Response(typeof body === 'string' ? body : JSON.stringify(body), { status, headers }));
  };
  return { asked, access: { hubUrl: HUB, token: 'hf_secret', fetch: fetchFn } };
}

const tree = `${HUB}/api/models/org/m/tree/${COMMIT}`;

describe('listRepoTree (@huggingface/hub listFiles under our fetch)', () => {
  it('follows Link pages, keeps files only, sorts them and counts the requests', async () => {
    const hub = fakeHub({
      [`${tree}?cursor=2`]: [200, [file('b/z.bin', true)]],
      [tree]: [
        200,
        [file('config.json'), { type: 'directory', path: 'b', size: 0, oid: 'd'.repeat(40) }],
        `${tree}?cursor=2`,
      ],
    });
    const { files, requests } = await listRepoTree({ access: hub.access, repo: 'org/m', commit: COMMIT });
    expect(requests).toBe(2);
    expect(files).toEqual([
      { path: 'b/z.bin', size: 1000, etag: 'c'.repeat(64), isLfs: true, blobId: 'b'.repeat(40) },
      { path: 'config.json', size: 10, etag: 'b'.repeat(40), isLfs: false, blobId: 'b'.repeat(40) },
    ]);
    expect(hub.asked.every((a) => a.auth === 'Bearer hf_secret')).toBe(true);
  });

  it('refuses a Link to another origin without calling it', async () => {
    const hub = fakeHub({ [tree]: [200, [file('a')], 'http://evil.test/api/models/org/m/tree/x'] });
    await expect(listRepoTree({ access: hub.access, repo: 'org/m', commit: COMMIT })).rejects.toMatchObject({
      code: 'HUB_BAD_RESPONSE',
      message: expect.stringContaining('another origin'),
    });
    expect(hub.asked.map((a) => new URL(a.url).origin)).toEqual([HUB]);
  });

  it.each([
    ['not JSON', '<html>'],
    ['not a list', { files: [] }],
  ])('refuses a page that is %s', async (_what, body) => {
    const hub = fakeHub({ [tree]: [200, body] });
    await expect(listRepoTree({ access: hub.access, repo: 'org/m', commit: COMMIT })).rejects.toMatchObject({
      code: 'HUB_BAD_RESPONSE',
    });
  });

  it('refuses a file entry without a git oid', async () => {
    const hub = fakeHub({ [tree]: [200, [{ type: 'file', path: 'x', size: 1 }]] });
    await expect(listRepoTree({ access: hub.access, repo: 'org/m', commit: COMMIT })).rejects.toMatchObject({
      code: 'HUB_BAD_RESPONSE',
      message: expect.stringContaining('unexpected file entry'),
    });
  });

  it('turns a Hub error into a HubError, token not in the message', async () => {
    const hub = fakeHub({});
    const err = await listRepoTree({ access: hub.access, repo: 'org/m', commit: COMMIT }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(HubError);
    expect(String((err as Error).message)).not.toContain('hf_secret');
  });
});
