import { describe, expect, it } from '@jest/globals';
import { CloudEvent, HTTP } from 'cloudevents';
import { isAppError } from '../errors/app-error.js';
import { receiveCloudEvent } from './receive-cloud-event.js';

const ping = new CloudEvent({
  id: 'e1',
  type: 'dev.knative.sources.ping',
  source: '/apis/v1/namespaces/ns/pingsources/p',
  datacontenttype: 'application/json',
  data: { check: 'hourly' },
});

function codeOf(fn: () => unknown): string {
  try {
    fn();
  } catch (err) {
    if (isAppError(err)) return `${err.statusCode} ${err.code}: ${err.message}`;
    throw err;
  }
  throw new Error('expected an AppError');
}

describe('receiveCloudEvent', () => {
  it.each(['binary', 'structured'] as const)('decodes %s mode, data parsed from JSON', (mode) => {
    const message = mode === 'binary' ? HTTP.binary(ping) : HTTP.structured(ping);
    const event = receiveCloudEvent({ headers: message.headers, body: Buffer.from(message.body as string) });
    expect(event).toMatchObject({ id: 'e1', type: 'dev.knative.sources.ping', data: { check: 'hourly' } });
  });

  it('refuses a plain JSON request with a 400 that says it is not a CloudEvent', () => {
    expect(codeOf(() => receiveCloudEvent({ headers: { 'content-type': 'application/json' }, body: '{}' }))).toMatch(
      /^400 BAD_CLOUDEVENT: not a valid CloudEvent/,
    );
  });

  it('refuses a structured body that is not JSON', () => {
    expect(
      codeOf(() => receiveCloudEvent({ headers: { 'content-type': 'application/cloudevents+json' }, body: '{oops' })),
    ).toMatch(/^400 BAD_CLOUDEVENT: not a valid CloudEvent: body is not JSON/);
  });

  it('refuses batches', () => {
    expect(
      codeOf(() =>
        receiveCloudEvent({ headers: { 'content-type': 'application/cloudevents-batch+json' }, body: '[]' }),
      ),
    ).toMatch(/^400 BAD_CLOUDEVENT: batched CloudEvents are not accepted/);
  });
});
