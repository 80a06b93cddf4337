import { CancelledError, ChatvecError } from '../core/errors.ts';
import { describeFailure, hubHttpError, isRetryableStatus, placeLabel, type HubPlace } from './hub-errors.ts';

export interface RetryPolicy {
  /** Attempts after the first one. */
  retries: number;
  /** Wait before the first retry; doubled for each further one (capped at 30 s). */
  retryDelayMs: number;
  signal?: AbortSignal;
}

/**
 * Run a whole Hub call (model info, listing, download info) again on network errors, 408/429 and 5xx.
 * 401/403/404 become their ChatvecError at once; past the budget the last failure is reported.
 */
export async function withRetries<T>(params: RetryPolicy & {
  place: HubPlace;
  /** What the call does, for the error message, e.g. "list the files". */
  what: string;
  attempt: () => Promise<T>;
}): Promise<T> {
  for (let failures = 0; ; ) {
    if (params.signal?.aborted) throw new CancelledError();
    try {
      return await params.attempt();
    } catch (e) {
      if (e instanceof ChatvecError || e instanceof CancelledError) throw e;
      if (params.signal?.aborted) throw new CancelledError();
      const failure = describeFailure(e);
      if (!isRetryableStatus(failure.status)) throw hubHttpError(failure.status!, failure.message, params.place);
      if (++failures > params.retries) {
        throw new ChatvecError(`could not ${params.what} after ${failures} attempts; last error: ${failure.message}`, {
          code: 'hub-unreachable',
          file: placeLabel(params.place),
          hint: `Check the network connection and the Hub endpoint ${params.place.hubUrl}, then try again`,
        });
      }
      await sleep(backoffMs(failures, params.retryDelayMs), params.signal);
    }
  }
}

export function backoffMs(failures: number, retryDelayMs: number): number {
  return Math.min(retryDelayMs * 2 ** (failures - 1), 30_000);
}

export function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve, reject) => {
    if (signal?.aborted) return reject(new CancelledError());
    const done = () => {
      signal?.removeEventListener('abort', cancel);
      resolve();
    };
    const timer = setTimeout(done, ms);
    const cancel = () => {
      clearTimeout(timer);
      reject(new CancelledError());
    };
    signal?.addEventListener('abort', cancel, { once: true });
  });
}
