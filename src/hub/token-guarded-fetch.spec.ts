import { describe, expect, it } from 'vitest';
import { tokenGuardedFetch } from './token-guarded-fetch.ts';

type Call = { url: string; auth: string | null; method: string; redirect?: RequestRedirect };

/** A fetch answering from a table of url → response, recording what it was sent. */
function fakeFetch(routes: Record<string, () => Response>) {
  const calls: Call[] = [];
  const fetch: typeof globalThis.fetch = async (input, init = {}) => {
    const url = String(input);
    calls.push({ url, auth: new Headers(init.headers).get('authorization'), method: init.method ?? 'GET', redirect: init.redirect });
    const route = routes[url];
    if (!route) throw new TypeError(`no route for ${url}`);
    return route();
  };
  return { calls, fetch };
}

const redirect = (status: number, location: string) => () => new Response(null, { status, headers: { location } });
const ok = (body = 'ok') => () => new Response(body);
const auth = { headers: { Authorization: 'Bearer hf_secret', Range: 'bytes=0-9' } };

describe('tokenGuardedFetch', () => {
  it('sends the token to the Hub origin only, also across redirects', async () => {
    const { calls, fetch } = fakeFetch({
      'https://hub.test/org/m/resolve/main/a.bin': redirect(302, '/org/m/resolve/abc/a.bin'),
      'https://hub.test/org/m/resolve/abc/a.bin': redirect(302, 'https://cdn.test/a.bin?sig=1'),
      'https://cdn.test/a.bin?sig=1': ok('bytes'),
    });
    const guarded = tokenGuardedFetch({ hubUrl: 'https://hub.test', fetch });
    const res = await guarded('https://hub.test/org/m/resolve/main/a.bin', auth);
    expect(await res.text()).toBe('bytes');
    expect(calls.map((c) => [c.url, c.auth, c.redirect])).toEqual([
      ['https://hub.test/org/m/resolve/main/a.bin', 'Bearer hf_secret', 'manual'],
      ['https://hub.test/org/m/resolve/abc/a.bin', 'Bearer hf_secret', 'manual'],
      ['https://cdn.test/a.bin?sig=1', null, 'manual'],
    ]);
  });

  it('drops the token on a direct request to another origin (the CDN address the library picked)', async () => {
    const { calls, fetch } = fakeFetch({ 'https://cdn.test/a.bin': ok() });
    await tokenGuardedFetch({ hubUrl: 'https://hub.test/', fetch })(new URL('https://cdn.test/a.bin'), auth);
    expect(calls[0].auth).toBeNull();
    expect(new Headers(auth.headers).get('authorization')).toBe('Bearer hf_secret'); // the caller's headers are untouched
  });

  it('lets a browser follow redirects itself (opaque redirects), from then on', async () => {
    const { calls, fetch } = fakeFetch({ 'https://hub.test/x': ok('followed') });
    // A Response with type "opaqueredirect" cannot be constructed; wrap the fake to report one for "manual".
    const browserLike: typeof globalThis.fetch = async (input, init) => {
      const res = await fetch(input, init);
      return init?.redirect === 'manual' ? ({ type: 'opaqueredirect', status: 0, headers: new Headers(), body: null } as unknown as Response) : res;
    };
    const guarded = tokenGuardedFetch({ hubUrl: 'https://hub.test', fetch: browserLike });
    expect(await (await guarded('https://hub.test/x', auth)).text()).toBe('followed');
    await guarded('https://hub.test/x', auth);
    expect(calls.map((c) => c.redirect)).toEqual(['manual', 'follow', 'follow']);
  });

  it('turns a 303 into a GET and stops redirect loops', async () => {
    const { calls, fetch } = fakeFetch({ 'https://hub.test/a': redirect(303, '/b'), 'https://hub.test/b': ok(), 'https://hub.test/loop': redirect(307, '/loop') });
    const guarded = tokenGuardedFetch({ hubUrl: 'https://hub.test', fetch });
    await guarded('https://hub.test/a', { method: 'POST', body: 'x' });
    expect(calls.map((c) => c.method)).toEqual(['POST', 'GET']);
    await expect(guarded('https://hub.test/loop')).rejects.toThrow('too many redirects (more than 10) from https://hub.test/loop');
  });
});
