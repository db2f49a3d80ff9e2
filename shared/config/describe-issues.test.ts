import { describe, expect, it } from '@jest/globals';
import { z } from 'zod';
import { describeFirstIssue, describeIssues } from './describe-issues.js';

const Doc = z.strictObject({
  PORT: z.number(),
  models: z.record(
    z.string().regex(/^[a-z/]+$/, 'lower-case only'),
    z.strictObject({ files: z.array(z.number().min(0)) }),
  ),
});

describe('describeIssues', () => {
  it('leads each line with the path of the bad field, brackets for indices and odd keys', () => {
    const parsed = Doc.safeParse({ PORT: 'x', models: { 'org/a': { files: [1, -1] } } });
    expect(parsed.success).toBe(false);
    expect(describeIssues(parsed.error!.issues)).toEqual([
      expect.stringMatching(/^PORT: /),
      expect.stringMatching(/^models\["org\/a"\]\.files\[1\]: /),
    ]);
  });

  it('names each unknown key on its own line and a bad record key by what keys are', () => {
    const parsed = Doc.safeParse({ PORT: 1, extra: 1, other: 2, models: { BAD: { files: [] } } });
    expect(describeIssues(parsed.error!.issues, { keyName: 'model id' })).toEqual([
      'models.BAD: invalid model id: lower-case only',
      'extra: unknown key',
      'other: unknown key',
    ]);
  });

  it('calls an empty path by the root it is given', () => {
    const parsed = z.object({ a: z.string() }).safeParse(3);
    expect(describeIssues(parsed.error!.issues, { root: '(data)' })).toEqual([expect.stringMatching(/^\(data\): /)]);
    expect(describeFirstIssue(parsed.error!, 'body')).toMatch(/^body: /);
  });
});
