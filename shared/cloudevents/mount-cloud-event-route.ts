import express, { type Express, type Request, type Response } from 'express';
import type { Logger } from '../log/create-logger.js';
import { httpErrorHandler } from '../http/http-error-handler.js';
import { receiveCloudEvent, type ReceivedCloudEvent } from './receive-cloud-event.js';
import { replyCloudEvent, type CloudEventReply } from './reply-cloud-event.js';

/** What a function's handler returns: a reply event (200), or just a status (202/204 without body). */
export type CloudEventOutcome = { reply: CloudEventReply; status?: number } | { status: 202 | 204 };

/** A function's event handler (the Knative Functions `handle(context, event)` contract, as a plain function). */
export type CloudEventHandler = (event: ReceivedCloudEvent, log: Logger) => Promise<CloudEventOutcome>;

/**
 * Mounts `POST /` (where Knative sources and brokers deliver) on `app`: decodes the CloudEvent (binary or
 * structured), calls `handle` with a child logger bound to the event, replies with its CloudEvent.
 * Errors: an AppError with a 4xx status answers `{error_code, message}` with that status (sources do not
 * retry 400); anything else is logged once and answers 500 with a body that says nothing internal.
 */
export function mountCloudEventRoute(params: {
  app: Express;
  log: Logger;
  handle: CloudEventHandler;
  /** @default '4mb' (a ConfigMap is at most 1 MiB) */
  bodyLimit?: string;
}): void {
  const { app, log } = params;
  app.post(
    '/',
    express.raw({ type: () => true, limit: params.bodyLimit ?? '4mb' }),
    async (req: Request, res: Response) => {
      const body = Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
      const event = receiveCloudEvent({ headers: req.headers, body });
      const eventLog = log.child({
        ceId: event.id,
        ceType: event.type,
        ceSource: event.source,
        ceSubject: event.subject,
      });
      const outcome = await params.handle(event, eventLog);
      if ('reply' in outcome) replyCloudEvent(res, outcome.reply, outcome.status ?? 200);
      else res.status(outcome.status).end();
    },
  );
  // sources do not retry a 4xx; a 5xx (retried) says nothing internal
  app.use(
    httpErrorHandler({
      log,
      bodyOf: (_path, a) => ({ error_code: a.code, message: a.message }),
      internal: { status: 500, message: 'the event could not be processed; it may be retried' },
      refusedLevel: 'warn',
      noun: 'event',
      redact: true,
    }),
  );
}
