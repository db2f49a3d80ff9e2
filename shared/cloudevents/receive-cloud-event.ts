import { HTTP, type CloudEventV1, type Headers } from 'cloudevents';
import { AppError } from '../errors/app-error.js';

/** The codes of a CloudEvent the functions cannot take: not one, a type they do not handle, data of the wrong shape. */
export type CloudEventErrorCode = 'BAD_CLOUDEVENT' | 'UNSUPPORTED_EVENT_TYPE' | 'BAD_EVENT_DATA';

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    cloudEvent: CloudEventErrorCode;
  }
}

/** A received CloudEvent: context attributes, extensions and `data` (parsed when its content type is JSON). */
export type ReceivedCloudEvent = CloudEventV1<unknown>;

/**
 * Decodes an HTTP request into one CloudEvent, in binary (`ce-*` headers + body) or structured
 * (`application/cloudevents+json`) mode, through the `cloudevents` package's HTTP binding.
 * @throws AppError `BAD_CLOUDEVENT` (400) naming what is wrong: not a CloudEvent, a batch, invalid attributes,
 *   a structured body that is not JSON
 */
export function receiveCloudEvent(params: { headers: Headers; body: Buffer | string }): ReceivedCloudEvent {
  const body = typeof params.body === 'string' ? params.body : params.body.toString('utf8');
  const contentType = String(params.headers['content-type'] ?? '');
  if (contentType.startsWith('application/cloudevents-batch')) {
    throw badEvent('batched CloudEvents are not accepted: send one event per request');
  }
  let decoded: ReceivedCloudEvent | ReceivedCloudEvent[];
  try {
    decoded = HTTP.toEvent<unknown>({ headers: params.headers, body });
  } catch (err) {
    throw badEvent(`not a valid CloudEvent: ${describeDecodeError(err)}`, err);
  }
  if (Array.isArray(decoded)) throw badEvent('batched CloudEvents are not accepted: send one event per request');
  return decoded;
}

function describeDecodeError(err: unknown): string {
  if (!(err instanceof Error)) return String(err);
  const details = (err as { errors?: unknown }).errors;
  const extra = Array.isArray(details) && details.length > 0 ? ` (${JSON.stringify(details).slice(0, 300)})` : '';
  if (err instanceof SyntaxError) return `body is not JSON: ${err.message}`;
  return `${err.message}${extra}`;
}

function badEvent(message: string, cause?: unknown): AppError {
  return new AppError({ code: 'BAD_CLOUDEVENT', message, statusCode: 400, cause });
}
