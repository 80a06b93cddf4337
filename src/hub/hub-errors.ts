import { HubApiError } from '@huggingface/hub';
import { ChatvecError } from '../core/errors.ts';

/** Where a Hub request went: enough to name it in an error a person can act on. */
export interface HubPlace {
  hubUrl: string;
  /** `owner/name` */
  repo: string;
  /** The revision as the person gave it (branch, tag or commit). */
  revision: string;
  /** File inside the repository, when the request was for one. */
  path?: string;
  /** Whether a token was sent (changes what a 401 means). */
  hasToken: boolean;
}

export function placeLabel(place: HubPlace): string {
  return `${place.repo}@${place.revision}${place.path ? `/${place.path}` : ''}`;
}

/** Status (when an HTTP answer came back) and a one-line message, from whatever the library or fetch threw. */
export function describeFailure(e: unknown): { status?: number; message: string } {
  if (e instanceof HubApiError) {
    // The library keeps a JSON body's `error`, or a text body as `message` (which may be a proxy's HTML page).
    const data = e.data as { error?: unknown; message?: unknown } | undefined;
    const text = typeof data?.message === 'string' ? data.message.replace(/\s+/g, ' ').trim() : '';
    const said = typeof data?.error === 'string' ? data.error : text && !text.startsWith('<') ? text.slice(0, 160) : '';
    return { status: e.statusCode, message: said ? `HTTP ${e.statusCode}: ${said}` : `HTTP ${e.statusCode}` };
  }
  if (e instanceof Error) {
    const cause = e.cause instanceof Error ? e.cause.message : typeof e.cause === 'string' ? e.cause : '';
    return { message: cause && cause !== e.message ? `${e.message} (${cause})` : e.message };
  }
  return { message: String(e) };
}

/** Answers worth asking again: rate limits, timeouts and server errors. Network errors (no status) are too. */
export function isRetryableStatus(status: number | undefined): boolean {
  return status === undefined || status === 408 || status === 429 || status >= 500;
}

/** The error for an HTTP answer that asking again will not fix. */
export function hubHttpError(status: number, message: string, place: HubPlace): ChatvecError {
  const file = placeLabel(place);
  const tokens = `${place.hubUrl}/settings/tokens`;
  if (status === 401) {
    return new ChatvecError('this repository is gated or private: paste an access token with read access', {
      code: 'hub-unauthorized',
      file,
      hint: place.hasToken ? `The token given was not accepted: check that it is complete and not revoked (${tokens})` : `No token was given; create one at ${tokens}`,
    });
  }
  if (status === 403) {
    return new ChatvecError("your token has no access: accept the model's license on the Hub / check the token", {
      code: 'hub-forbidden',
      file,
      hint: `Accept the license at ${place.hubUrl}/${place.repo} with the account that owns the token, and check that the token has read access (${tokens})`,
    });
  }
  if (status === 404) {
    return new ChatvecError(`${place.path ? 'file' : 'repository or revision'} not found on the Hub (${message})`, {
      code: 'hub-not-found',
      file,
      hint: `Check the repository "${place.repo}", the revision "${place.revision}"${place.path ? `, the file "${place.path}"` : ''} and the Hub endpoint ${place.hubUrl}`,
    });
  }
  return new ChatvecError(`the Hub refused the request (${message})`, { code: 'hub-http-error', file, hint: `Check the Hub endpoint ${place.hubUrl}` });
}

/** The error for anything else that is not worth retrying: a malformed answer, an impossible range. */
export function hubBadResponse(summary: string, place: HubPlace, found?: string): ChatvecError {
  return new ChatvecError(found ? `${summary} (${found})` : summary, { code: 'hub-bad-response', file: placeLabel(place), hint: `Check that ${place.hubUrl} is a Hugging Face Hub (or a mirror of it)` });
}
