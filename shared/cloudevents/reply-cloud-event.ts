import type { Response } from 'express';
import { CloudEvent, HTTP } from 'cloudevents';

/** The CloudEvent a function answers with. */
export interface CloudEventReply {
  /** e.g. `dev.modelctl.warm.planned` */
  type: string;
  /** e.g. `/modelctl/warm` */
  source: string;
  subject?: string;
  data: unknown;
}

/**
 * Answers an HTTP request with a CloudEvent in binary mode (`ce-*` headers, JSON body), as Knative
 * Functions reply: the broker or the caller gets it as the next event.
 */
export function replyCloudEvent(res: Response, reply: CloudEventReply, status = 200): void {
  const event = new CloudEvent({
    type: reply.type,
    source: reply.source,
    ...(reply.subject === undefined ? {} : { subject: reply.subject }),
    datacontenttype: 'application/json',
    data: reply.data,
  });
  const message = HTTP.binary(event);
  for (const [name, value] of Object.entries(message.headers)) {
    if (value !== undefined) res.setHeader(name, value);
  }
  res.status(status).send(message.body);
}
