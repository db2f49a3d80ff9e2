import { AppError } from '../../shared/errors/app-error.js';

/** The scoring deadline of every request (MLFLOW_SCORING_SERVER_REQUEST_TIMEOUT), kept by one timer. */
export interface RequestDeadlines {
  /**
   * `work` or a 504 AppError once the deadline passes. A function gets an AbortSignal that aborts at the deadline,
   * so a request still queued for inference leaves the queue instead of being computed for nobody.
   * @param controller the controller whose signal `work` gets (the caller may abort it too, e.g. when the client
   *   goes away); a new one when not given
   */
  run: <T>(work: Promise<T> | ((signal: AbortSignal) => Promise<T>), controller?: AbortController) => Promise<T>;
  /** requests being timed */
  pending: () => number;
}

/** One timed request, linked in deadline order. */
interface Entry {
  at: number;
  controller: AbortController;
  reject: (err: unknown) => void;
  prev: Entry | null;
  next: Entry | null;
}

/**
 * Deadlines of `ms` for any number of requests on one timer, instead of a timer (and a Promise.race) each.
 * Every request gets the same timeout, so they expire in arrival order: a linked list kept in that order, a
 * request that settles unlinks itself, and the one timer is armed for the oldest. Under load the timer rarely
 * fires: while requests settle within `ms`, it finds the oldest still in time and re-arms once per `ms`.
 */
export function createRequestDeadlines(params: {
  ms: number;
  /** @default performance.now */
  now?: () => number;
}): RequestDeadlines {
  const now = params.now ?? (() => performance.now());
  let head: Entry | null = null;
  let tail: Entry | null = null;
  let count = 0;
  let timer: NodeJS.Timeout | undefined;

  const unlink = (e: Entry): void => {
    if (e.prev) e.prev.next = e.next;
    else if (head === e) head = e.next;
    else return; // already unlinked (expired)
    if (e.next) e.next.prev = e.prev;
    else tail = e.prev;
    e.prev = e.next = null;
    count -= 1;
  };

  const expire = (): void => {
    timer = undefined;
    const at = now();
    while (head !== null && head.at <= at) {
      const e = head;
      unlink(e);
      const err = new AppError({
        code: 'DEADLINE_EXCEEDED',
        statusCode: 504,
        message: 'Request processing time exceeded limit',
      });
      e.controller.abort(err);
      e.reject(err);
    }
    arm(at);
  };

  const arm = (at: number): void => {
    if (timer !== undefined || head === null) return;
    // requests keep the process alive through their sockets; the timer alone must not
    timer = setTimeout(expire, Math.max(0, head.at - at)).unref();
  };

  const run = <T>(
    work: Promise<T> | ((signal: AbortSignal) => Promise<T>),
    controller: AbortController = new AbortController(),
  ): Promise<T> =>
    new Promise<T>((resolve, reject) => {
      const at = now();
      const e: Entry = { at: at + params.ms, controller, reject, prev: tail, next: null };
      if (tail) tail.next = e;
      else head = e;
      tail = e;
      count += 1;
      arm(at);
      let running: Promise<T>;
      try {
        running = typeof work === 'function' ? work(e.controller.signal) : work;
      } catch (err) {
        // a work function that throws before returning its promise fails the request at once
        unlink(e);
        reject(err);
        return;
      }
      // after the deadline the outcome has no reader: resolve/reject of a settled promise do nothing
      running.then(
        (value) => {
          unlink(e);
          resolve(value);
        },
        (err: unknown) => {
          unlink(e);
          reject(err);
        },
      );
    });

  return { run, pending: () => count };
}
