const REDIRECT_STATUSES = new Set([301, 302, 303, 307, 308]);
const MAX_REDIRECTS = 10;

/**
 * A fetch that sends `Authorization` only to the Hub's own origin.
 *
 * Why it is needed: @huggingface/hub's `fileDownloadInfo` hands `WebBlob` the CDN address itself when the CDN
 * answers `X-Cache: … cloudfront` (as the real Hub's does), and `WebBlob` then puts the token on every range
 * request to that CDN. This fetch drops the header for any other origin, and follows redirects itself so that
 * the header is dropped on a cross-origin hop even where the underlying fetch would keep it. Where the platform
 * hides redirects from scripts (browsers answer `redirect: 'manual'` with an opaque response) it lets the platform
 * follow them: the Fetch standard removes `Authorization` on cross-origin redirects.
 */
export function tokenGuardedFetch(params: {
  /** The Hub endpoint; only its origin receives the token. */
  hubUrl: string;
  /** The fetch to guard (default: the global one, looked up at call time). */
  fetch?: typeof fetch;
}): typeof fetch {
  const hubOrigin = new URL(params.hubUrl).origin;
  const inner: typeof fetch = params.fetch ?? ((input, init) => globalThis.fetch(input, init));
  let platformFollows = false;

  return async (input: RequestInfo | URL, init: RequestInit = {}): Promise<Response> => {
    const request = typeof input === 'object' && 'url' in input && !(input instanceof URL) ? input : null;
    let url = new URL(request ? request.url : String(input));
    const headers = new Headers(init.headers ?? request?.headers);
    let method = init.method ?? request?.method ?? 'GET';
    let body = init.body;
    const base = { ...init, headers, method, body };

    for (let hop = 0; ; hop++) {
      if (url.origin !== hubOrigin) headers.delete('authorization');
      if (platformFollows || (init.redirect !== undefined && init.redirect !== 'follow')) return inner(url, { ...base, headers, method, body, redirect: init.redirect ?? 'follow' });
      const res = await inner(url, { ...base, headers, method, body, redirect: 'manual' });
      if (res.type === 'opaqueredirect') {
        platformFollows = true;
        return inner(url, { ...base, headers, method, body, redirect: 'follow' });
      }
      const location = REDIRECT_STATUSES.has(res.status) ? res.headers.get('location') : null;
      if (!location) return res;
      await res.body?.cancel();
      if (hop >= MAX_REDIRECTS) throw new TypeError(`too many redirects (more than ${MAX_REDIRECTS}) from ${request?.url ?? String(input)}`);
      url = new URL(location, url);
      if (res.status === 303 && method !== 'HEAD') {
        method = 'GET';
        body = undefined;
      }
    }
  };
}
