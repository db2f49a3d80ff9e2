import type { Request, RequestHandler, Response } from 'express';
import type { ServerResponse } from 'node:http';
import type { ServedModel } from './load-served-model.js';
import type { ScoringAnswer } from './scoring.js';

/** What the protocol routes share: the model (once loaded), the body reader, the request deadline. */
export interface ServeContext {
  /** the model, or null while it loads */
  model: () => ServedModel | null;
  /** the model, or a 503 AppError while it loads */
  requireModel: () => ServedModel;
  /** reads the raw body (up to the configured limit, else 413) into `req.body` as a Buffer */
  readBody: RequestHandler;
  /** the body `readBody` read (empty when there was none) */
  bodyOf: (req: Request) => Uint8Array;
  /**
   * answers 200 with a body an inference thread serialised: JSON as UTF-8, or with `headerLength` the OIP binary
   * form (a JSON header of that many bytes, then raw tensors; sent as application/octet-stream with
   * Inference-Header-Content-Length)
   */
  sendJson: (res: Response, answer: ScoringAnswer) => void;
  /**
   * rejects with a 504 AppError when `work` outlasts the scoring timeout; given a function, passes it a signal
   * that aborts at the deadline (a request still queued then leaves the queue), and given `res`, also when the
   * client goes away before its answer (CLIENT_CLOSED_REQUEST, 499: clientClosedRequest)
   */
  withTimeout: <T>(work: Promise<T> | ((signal: AbortSignal) => Promise<T>), res?: ServerResponse) => Promise<T>;
  /** what GET /version answers */
  version: string;
}
