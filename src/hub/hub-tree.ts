import { HUB_URL, listFiles, modelInfo } from '@huggingface/hub';
import { ChatvecError } from '../core/errors.ts';
import type { ByteSource, FileTree } from '../core/sources/byte-source.ts';
import { CachedByteSource } from './cached-byte-source.ts';
import { hubBadResponse, hubHttpError, type HubPlace } from './hub-errors.ts';
import { HubByteSource } from './hub-byte-source.ts';
import { parseHubRef } from './parse-ref.ts';
import type { TensorCache } from './range-cache.ts';
import { timedFetch } from './timed-fetch.ts';
import { tokenGuardedFetch } from './token-guarded-fetch.ts';
import { withRetries } from './with-retries.ts';

export interface HubTreeParams {
  /** `owner/name` */
  repo: string;
  /** Branch, tag or commit (default `main`); resolved to a commit once, and every file is read at that commit. */
  revision?: string;
  /** The Hub endpoint, or a mirror of it (default https://huggingface.co). Only this origin is sent the token. */
  hubUrl?: string;
  /** `hf_…`, for gated and private repositories. */
  accessToken?: string;
  /** Custom fetch (proxies, tests); it is wrapped so the token never leaves the Hub's origin. */
  fetch?: typeof fetch;
  /** Retries per request (per range read: attempts after the first, each resuming where the last stopped). Default 5. */
  retries?: number;
  /** Wait before the first retry, doubled for each further one (default 500 ms, at most 30 s). */
  retryDelayMs?: number;
  /** A request that delivers no byte for this long is given up and retried (default 60 s). */
  stallTimeoutMs?: number;
  signal?: AbortSignal;
  /** Bytes received from the network (not from the cache), as they arrive: for progress. */
  onBytes?: (n: number) => void;
  /** Store for downloaded blocks; with one, reading a file again downloads nothing. */
  cache?: TensorCache;
}

const MAX_FILES = 100_000;

/** A Hub model repository at one commit, as a FileTree: listed with `listFiles`, read by range requests. */
export class HubTree implements FileTree {
  readonly repo: string;
  readonly revision: string;
  readonly hubUrl: string;
  private readonly params: HubTreeParams;
  private readonly fetch: typeof fetch;
  private resolved: Promise<string> | null = null;
  private sha: string | undefined;
  private listing: Promise<Map<string, number>> | null = null;

  constructor(params: HubTreeParams) {
    const ref = parseHubRef(params.repo);
    if (ref.revision !== undefined) throw new ChatvecError(`"${params.repo}" holds a revision`, { code: 'bad-hub-ref', hint: 'Give the revision as `revision`, or parse the reference with parseHubRef first' });
    this.repo = ref.repo;
    this.revision = params.revision ?? 'main';
    if (params.revision !== undefined) parseHubRef(`${this.repo}@${params.revision}`);
    this.hubUrl = normalizeHubUrl(params.hubUrl ?? HUB_URL);
    if (params.accessToken !== undefined && !params.accessToken.startsWith('hf_')) {
      throw new ChatvecError('this is not a Hugging Face access token', { code: 'hub-bad-token', expected: 'a token starting with "hf_"', found: params.accessToken.length > 3 ? `one starting with "${params.accessToken.slice(0, 3)}"` : 'a too short one', hint: 'Copy the token again from the Hub (Settings → Access Tokens)' });
    }
    this.params = params;
    this.fetch = tokenGuardedFetch({ hubUrl: this.hubUrl, fetch: params.fetch });
  }

  get label(): string {
    return `${this.repo}@${this.revision}`;
  }

  /** The 40-hex commit the revision resolved to; undefined until `list()` (or `resolveCommit()`) has run. */
  get commit(): string | undefined {
    return this.sha;
  }

  /** Resolve the revision to a commit, once. */
  resolveCommit(): Promise<string> {
    if (!this.resolved) {
      this.resolved = this.retry('find the commit of the revision', async () => {
        const info = await modelInfo({ name: this.repo, revision: this.revision, hubUrl: this.hubUrl, accessToken: this.params.accessToken, fetch: this.timedFetch(), additionalFields: ['sha'] });
        if (typeof info.sha !== 'string' || !/^[0-9a-f]{40}$/.test(info.sha)) throw hubBadResponse('the Hub gave no commit for the revision', this.place(), `sha ${JSON.stringify(info.sha)?.slice(0, 60)}`);
        this.sha = info.sha;
        return info.sha;
      });
      this.resolved.catch(() => (this.resolved = null));
    }
    return this.resolved;
  }

  async list(): Promise<string[]> {
    return [...(await this.files()).keys()].sort();
  }

  async open(path: string): Promise<ByteSource> {
    const files = await this.files();
    const size = files.get(path);
    if (size === undefined) throw hubHttpError(404, `HTTP 404: no "${path}" at commit ${this.sha}`, this.place(path));
    const commit = this.sha!;
    const { params } = this;
    const source = new HubByteSource({
      place: { ...this.place(), path },
      commit,
      size,
      accessToken: params.accessToken,
      fetch: this.fetch,
      retries: params.retries ?? 5,
      retryDelayMs: params.retryDelayMs ?? 500,
      stallTimeoutMs: params.stallTimeoutMs ?? 60_000,
      signal: params.signal,
      onBytes: params.onBytes,
    });
    return params.cache ? new CachedByteSource({ source, cache: params.cache, key: { hubUrl: this.hubUrl, repo: this.repo, commit, path } }) : source;
  }

  /** Path → size of every file at the commit, listed once. */
  private files(): Promise<Map<string, number>> {
    if (!this.listing) {
      this.listing = this.resolveCommit().then((commit) =>
        this.retry('list the files', async () => {
          const files = new Map<string, number>();
          for await (const entry of listFiles({ repo: this.repo, revision: commit, recursive: true, hubUrl: this.hubUrl, accessToken: this.params.accessToken, fetch: this.timedFetch() })) {
            if (entry.type !== 'file') continue;
            const size = entry.lfs?.size ?? entry.size;
            if (typeof entry.path !== 'string' || entry.path === '' || entry.path.startsWith('/') || entry.path.split('/').includes('..') || !Number.isSafeInteger(size) || size < 0) {
              throw hubBadResponse('the file listing holds an invalid entry', this.place(), JSON.stringify(entry).slice(0, 120));
            }
            if (files.size >= MAX_FILES) throw hubBadResponse(`the repository lists more than ${MAX_FILES} files`, this.place());
            files.set(entry.path, size);
          }
          return files;
        }),
      );
      this.listing.catch(() => (this.listing = null));
    }
    return this.listing;
  }

  private place(path?: string): HubPlace {
    return { hubUrl: this.hubUrl, repo: this.repo, revision: this.revision, ...(path !== undefined ? { path } : {}), hasToken: !!this.params.accessToken };
  }

  private retry<T>(what: string, attempt: () => Promise<T>): Promise<T> {
    return withRetries({ retries: this.params.retries ?? 5, retryDelayMs: this.params.retryDelayMs ?? 500, signal: this.params.signal, place: this.place(), what, attempt });
  }

  private timedFetch(): typeof fetch {
    return timedFetch({ fetch: this.fetch, timeoutMs: this.params.stallTimeoutMs ?? 60_000, signal: this.params.signal });
  }
}

function normalizeHubUrl(url: string): string {
  const trimmed = url.trim().replace(/\/+$/, '');
  let parsed: URL;
  try {
    parsed = new URL(trimmed);
  } catch {
    throw new ChatvecError(`"${url}" is not a URL`, { code: 'hub-bad-url', expected: 'an http(s) address such as https://huggingface.co' });
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') throw new ChatvecError(`"${url}" is not an http(s) address`, { code: 'hub-bad-url', expected: 'an http(s) address such as https://huggingface.co' });
  return trimmed;
}
