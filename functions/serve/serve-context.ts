import type { Request, RequestHandler, Response } from 'express';
import type { ServedModel } from './load-served-model.js';

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
  /** answers 200 with a JSON body already serialised to UTF-8 (by an inference thread) */
  sendJson: (res: Response, json: Uint8Array) => void;
  /**
   * rejects with a 504 AppError when `work` outlasts the scoring timeout; given a function, passes it a signal
   * that aborts at the deadline (a request still queued then leaves the queue)
   */
  withTimeout: <T>(work: Promise<T> | ((signal: AbortSignal) => Promise<T>)) => Promise<T>;
  /** what GET /version answers */
  version: string;
}
