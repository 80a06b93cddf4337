import { downloadFile, fileDownloadInfo, type FileDownloadInfoOutput } from '@huggingface/hub';
import { CancelledError, ChatvecError } from '../core/errors.ts';
import { checkRange, type ByteSource } from '../core/sources/byte-source.ts';
import { timedFetch } from './timed-fetch.ts';
import { describeFailure, hubBadResponse, hubHttpError, isRetryableStatus, placeLabel, type HubPlace } from './hub-errors.ts';
import { backoffMs, sleep, withRetries } from './with-retries.ts';

export interface HubFileParams {
  place: HubPlace & { path: string };
  /** The commit every request names, so that a moving branch cannot mix files from two commits. */
  commit: string;
  /** Size from the repository listing; the download info must agree. */
  size: number;
  accessToken?: string;
  /** Already token-guarded (see tokenGuardedFetch). */
  fetch: typeof fetch;
  retries: number;
  retryDelayMs: number;
  /** Give up on a request (and retry) when no byte arrives for this long. */
  stallTimeoutMs: number;
  signal?: AbortSignal;
  onBytes?: (n: number) => void;
}

/** Why one range request failed, and whether asking again (for the bytes still missing) may help. */
class RangeAttemptError extends Error {
  constructor(message: string, readonly retryable: boolean, readonly status?: number, readonly staleUrl = false) {
    super(message);
  }
}

/**
 * One file of a Hub repository at a fixed commit, read by HTTP range requests through @huggingface/hub
 * (`fileDownloadInfo` for size and download address, `downloadFile`'s WebBlob for the ranges). A request that
 * fails or is cut is asked again for the bytes still missing only, with exponential backoff, up to `retries`
 * times per read.
 */
export class HubByteSource implements ByteSource {
  readonly name: string;
  readonly size: number;
  private info: Promise<FileDownloadInfoOutput> | null = null;

  constructor(private readonly p: HubFileParams) {
    this.name = placeLabel(p.place);
    this.size = p.size;
  }

  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    checkRange(this, offset, length);
    const out = into ? into.subarray(0, length) : new Uint8Array(length);
    let got = 0;
    let failures = 0;
    while (got < length) {
      if (this.p.signal?.aborted) throw new CancelledError();
      try {
        await this.attempt(offset + got, out.subarray(got), (n) => (got += n));
      } catch (e) {
        if (e instanceof ChatvecError || e instanceof CancelledError) throw e;
        if (this.p.signal?.aborted) throw new CancelledError();
        const failure = e instanceof RangeAttemptError ? e : new RangeAttemptError(describeFailure(e).message, true);
        if (!failure.retryable) {
          throw failure.status !== undefined ? hubHttpError(failure.status, failure.message, this.p.place) : hubBadResponse(failure.message, this.p.place);
        }
        if (failure.staleUrl) this.info = null;
        if (++failures > this.p.retries) throw this.rangeFailed(offset, length, got, failures, failure.message);
        await sleep(backoffMs(failures, this.p.retryDelayMs), this.p.signal);
      }
    }
    return out;
  }

  /** Size, ETag and download address, asked once per file (again only when a signed CDN address expired). */
  private downloadInfo(): Promise<FileDownloadInfoOutput> {
    if (!this.info) {
      const { place } = this.p;
      this.info = withRetries({
        ...this.p,
        place,
        what: 'find the download address',
        attempt: async () => {
          const info = await fileDownloadInfo({ repo: place.repo, path: place.path, revision: this.p.commit, hubUrl: place.hubUrl, accessToken: this.p.accessToken, fetch: timedFetch({ fetch: this.p.fetch, timeoutMs: this.p.stallTimeoutMs, signal: this.p.signal }) });
          if (!info) throw hubHttpError(404, 'HTTP 404: Entry not found', place);
          if (info.size !== this.size) throw hubBadResponse('the download size differs from the size in the repository listing', place, `${info.size} bytes instead of ${this.size}`);
          return info;
        },
      });
      this.info.catch(() => (this.info = null));
    }
    return this.info;
  }


  /** One range request for `dest.length` bytes at `start`; `onChunk` counts bytes as they land, so a cut keeps them. */
  private async attempt(start: number, dest: Uint8Array, onChunk: (n: number) => void): Promise<void> {
    const info = await this.downloadInfo();
    const end = start + dest.length;
    const controller = new AbortController();
    const cancel = () => controller.abort();
    this.p.signal?.addEventListener('abort', cancel, { once: true });
    let stalled = false;
    let timer: ReturnType<typeof setTimeout> | undefined;
    const arm = () => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        stalled = true;
        controller.abort();
      }, this.p.stallTimeoutMs);
    };
    let response: Response | undefined;
    let fetchError: unknown;
    // The library's WebBlob turns HTTP errors into a bare message; this keeps the response to judge it.
    const capture: typeof fetch = async (input, init) => {
      try {
        response = await this.p.fetch(input, { ...init, signal: controller.signal });
        return response;
      } catch (e) {
        fetchError = e;
        throw e;
      }
    };
    let pos = 0;
    arm();
    try {
      const { place } = this.p;
      const blob = await downloadFile({ repo: place.repo, path: place.path, revision: this.p.commit, hubUrl: place.hubUrl, accessToken: this.p.accessToken, fetch: capture, downloadInfo: info, xet: false });
      if (!blob) throw new RangeAttemptError('HTTP 404: Entry not found', false, 404);
      const reader = blob.slice(start, end).stream().getReader();
      try {
        for (;;) {
          const { done, value } = await reader.read();
          if (done) break;
          if (pos === 0) this.checkResponse(response, start, end);
          if (pos + value.length > dest.length) throw new RangeAttemptError(`the server sent more than the ${dest.length} bytes asked for`, false);
          dest.set(value, pos);
          pos += value.length;
          onChunk(value.length);
          this.p.onBytes?.(value.length);
          arm();
        }
      } catch (e) {
        reader.cancel().catch(() => undefined);
        throw e;
      }
      if (pos < dest.length) throw new RangeAttemptError(`the download of bytes ${start}-${end - 1} ended after ${pos} bytes`, true);
    } catch (e) {
      if (e instanceof RangeAttemptError || e instanceof ChatvecError) throw e;
      if (this.p.signal?.aborted) throw new CancelledError();
      throw this.judge(e, response, fetchError, stalled, pos);
    } finally {
      clearTimeout(timer);
      this.p.signal?.removeEventListener('abort', cancel);
    }
  }

  /** A 206 for exactly the range asked, or a 200 when the whole file was asked. */
  private checkResponse(res: Response | undefined, start: number, end: number): void {
    if (!res) return;
    const whole = start === 0 && end === this.size;
    if (res.status === 200 && whole) return;
    if (res.status !== 206) throw new RangeAttemptError(`asked for bytes ${start}-${end - 1}, the server answered ${res.status} instead of 206 Partial Content`, false);
    const contentRange = res.headers.get('content-range');
    if (contentRange === null) return; // not exposed to scripts by a CDN without CORS for it: the byte count still guards
    const m = /^bytes (\d+)-(\d+)\/(\d+|\*)$/.exec(contentRange.trim());
    if (!m || Number(m[1]) !== start || Number(m[2]) !== end - 1 || (m[3] !== '*' && Number(m[3]) !== this.size)) {
      throw new RangeAttemptError(`asked for bytes ${start}-${end - 1} of ${this.size}, the server sent "${contentRange}"`, false);
    }
  }

  /** What a failed request means: an HTTP answer (kept or not worth retrying), a cut, a stall, a network error. */
  private judge(e: unknown, res: Response | undefined, fetchError: unknown, stalled: boolean, pos: number): RangeAttemptError {
    if (res && !res.ok) {
      const fromHub = res.url === '' || new URL(res.url).origin === new URL(this.p.place.hubUrl).origin;
      // A signed CDN address that stopped working (expired) is fixed by asking the Hub for a fresh one.
      const stale = !fromHub && [401, 403, 404, 410].includes(res.status);
      const said = typeof e === 'string' ? e : describeFailure(e).message;
      return new RangeAttemptError(`HTTP ${res.status} from ${new URL(res.url || this.p.place.hubUrl).host}: ${said}`, stale || isRetryableStatus(res.status), res.status, stale);
    }
    const after = pos > 0 ? ` after ${pos} bytes` : '';
    if (stalled) return new RangeAttemptError(`no data for ${this.p.stallTimeoutMs} ms${after}`, true);
    const cause = fetchError ?? e;
    return new RangeAttemptError(`${describeFailure(cause).message}${after}`, true);
  }

  private rangeFailed(offset: number, length: number, got: number, attempts: number, last: string): ChatvecError {
    return new ChatvecError(`could not download bytes ${offset}-${offset + length - 1} after ${attempts} attempts (${got} of ${length} bytes received); last error: ${last}`, {
      code: 'hub-range-failed',
      file: this.name,
      hint: 'Check the network connection, then run the merge again with resume (`--resume` on the command line): the part already written is kept',
    });
  }
}
