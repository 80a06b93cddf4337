import { spawn } from 'node:child_process';
import { mkdir, readFile, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startHubServer, type HubServer } from '../e2e/hub-server.ts';
import { tempDir } from './helpers.ts';

const TOKEN = 'hf_gate_keeper';
let dir: string;
let server: HubServer;
let weights: Buffer;

beforeAll(async () => {
  dir = await tempDir('chatvec-hubserver-');
  const repo = join(dir, 'repo');
  await mkdir(join(repo, 'sub', 'deeper'), { recursive: true });
  weights = Buffer.from(Array.from({ length: 5000 }, (_, i) => (i * 31) & 255));
  await writeFile(join(repo, 'model.safetensors'), weights);
  await writeFile(join(repo, 'config.json'), '{"model_type":"llama"}\n');
  await writeFile(join(repo, 'sub', 'a.txt'), 'a');
  await writeFile(join(repo, 'sub', 'deeper', 'b.txt'), 'bb');
  await writeFile(join(repo, '.hidden'), 'not served');
  server = await startHubServer({ repos: { 'org/m': repo, 'org/gated': repo }, gated: { 'org/gated': TOKEN }, pageSize: 2 });
});
afterAll(() => server?.close());

describe('the local Hub server', () => {
  it('answers model info with the commit and the files', async () => {
    const res = await fetch(`${server.url}/api/models/org/m/revision/main?expand=sha`);
    expect(res.status).toBe(200);
    const info = await res.json();
    expect(info).toMatchObject({ id: 'org/m', sha: server.control.commitOf('org/m'), private: false, gated: false });
    expect(info.siblings).toEqual([{ rfilename: 'config.json' }, { rfilename: 'model.safetensors' }, { rfilename: 'sub/a.txt' }, { rfilename: 'sub/deeper/b.txt' }]);
    expect((await (await fetch(`${server.url}/api/models/org/gated`)).json()).gated).toBe('manual');
    const missing = await fetch(`${server.url}/api/models/org/none`);
    expect([missing.status, missing.headers.get('x-error-code'), await missing.json()]).toEqual([404, 'RepoNotFound', { error: 'Repository not found' }]);
  });

  it('lists the tree in pages linked by the Link header, like the Hub', async () => {
    const paths: string[] = [];
    let url: string | undefined = `${server.url}/api/models/org/m/tree/main?recursive=true&expand=false`;
    let pages = 0;
    while (url) {
      const res: Response = await fetch(url);
      for (const e of await res.json()) paths.push(`${e.type}:${e.path}`);
      url = /<([^>]+)>; rel="next"/.exec(res.headers.get('link') ?? '')?.[1];
      pages++;
    }
    expect(pages).toBe(3);
    expect(paths).toEqual(['file:config.json', 'file:model.safetensors', 'directory:sub', 'file:sub/a.txt', 'directory:sub/deeper', 'file:sub/deeper/b.txt']);
    const top = await (await fetch(`${server.url}/api/models/org/m/tree/main/sub?recursive=false`)).json();
    expect(top.map((e: { path: string }) => e.path)).toEqual(['sub/a.txt', 'sub/deeper']);
    const lfs = (await (await fetch(`${server.url}/api/models/org/m/tree/main?recursive=true`)).json()).find((e: { path: string }) => e.path === 'model.safetensors');
    expect(lfs).toMatchObject({ type: 'file', size: 5000, lfs: { size: 5000, pointerSize: expect.any(Number) } });
  });

  it('redirects LFS files to the CDN origin and serves ranges there', async () => {
    const commit = server.control.commitOf('org/m')!;
    const res = await fetch(`${server.url}/org/m/resolve/main/model.safetensors`, { redirect: 'manual' });
    expect(res.status).toBe(302);
    expect(res.headers.get('x-repo-commit')).toBe(commit);
    expect(res.headers.get('x-linked-size')).toBe('5000');
    const location = res.headers.get('location')!;
    expect(location.startsWith(`${server.cdnUrl}/cdn/org/m/${commit}/model.safetensors?sig=`)).toBe(true);
    expect(server.cdnUrl).not.toBe(server.url);

    const part = await fetch(location, { headers: { Range: 'bytes=100-199' } });
    expect(part.status).toBe(206);
    expect(part.headers.get('content-range')).toBe('bytes 100-199/5000');
    expect(part.headers.get('accept-ranges')).toBe('bytes');
    expect(part.headers.get('x-cache')).toBe('Hit from cloudfront');
    expect(part.headers.get('etag')).toBe(res.headers.get('x-linked-etag'));
    expect(Buffer.from(await part.arrayBuffer()).equals(weights.subarray(100, 200))).toBe(true);
    const suffix = await fetch(location, { headers: { Range: 'bytes=-10' } });
    expect(Buffer.from(await suffix.arrayBuffer()).equals(weights.subarray(4990))).toBe(true);
    const beyond = await fetch(location, { headers: { Range: 'bytes=5000-' } });
    expect([beyond.status, beyond.headers.get('content-range')]).toEqual([416, 'bytes */5000']);
    const head = await fetch(location, { method: 'HEAD' });
    expect([head.status, head.headers.get('content-length')]).toEqual([200, '5000']);
    const forged = await fetch(location.replace(/sig=\w+/, 'sig=0'));
    expect(forged.status).toBe(403);
  });

  it('serves small files from the Hub origin directly, with ranges', async () => {
    const res = await fetch(`${server.url}/org/m/resolve/main/config.json`, { headers: { Range: 'bytes=0-0' }, redirect: 'manual' });
    expect([res.status, res.headers.get('content-range'), await res.text()]).toEqual([206, 'bytes 0-0/23', '{']);
    const missing = await fetch(`${server.url}/org/m/resolve/main/nope.json`);
    expect([missing.status, missing.headers.get('x-error-code')]).toEqual([404, 'EntryNotFound']);
    expect((await fetch(`${server.url}/org/m/resolve/main/.hidden`)).status).toBe(404);
  });

  it('gates downloads of a gated repository: 401 without a token, 403 with another one', async () => {
    const url = `${server.url}/org/gated/resolve/main/config.json`;
    expect((await fetch(url)).status).toBe(401);
    expect((await fetch(url, { headers: { Authorization: 'Bearer hf_other' } })).status).toBe(403);
    expect((await fetch(url, { headers: { Authorization: `Bearer ${TOKEN}` } })).status).toBe(200);
  });

  it('answers CORS preflights and exposes the headers the Hub client reads', async () => {
    for (const origin of [server.url, server.cdnUrl]) {
      const pre = await fetch(`${origin}/org/m/resolve/main/model.safetensors`, { method: 'OPTIONS', headers: { Origin: 'http://127.0.0.1:4173', 'Access-Control-Request-Method': 'GET', 'Access-Control-Request-Headers': 'authorization,range' } });
      expect(pre.status).toBe(204);
      expect(pre.headers.get('access-control-allow-origin')).toBe('*');
      expect(pre.headers.get('access-control-allow-headers')).toMatch(/Authorization, Range/);
    }
    const res = await fetch(`${server.url}/org/m/resolve/main/model.safetensors`, { redirect: 'manual' });
    const exposed = res.headers.get('access-control-expose-headers')!.split(', ');
    for (const h of ['Content-Range', 'ETag', 'X-Repo-Commit', 'X-Linked-Size', 'X-Linked-ETag', 'X-Error-Code', 'X-Cache', 'Link']) expect(exposed).toContain(h);
    expect(res.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
  });

  it('takes faults and hands out its request log over HTTP', async () => {
    const control = async (body: object) => (await fetch(`${server.url}/__control`, { method: 'POST', body: JSON.stringify(body) })).json();
    expect(await control({ clearLog: true, faults: { status: { code: 500, count: 1, match: { path: 'config' } } } })).toEqual({ ok: true });
    const url = `${server.url}/org/m/resolve/main/config.json`;
    expect((await fetch(url)).status).toBe(500);
    expect((await fetch(url)).status).toBe(200);
    await control({ faults: { cut: { afterBytes: 3, count: 1 } } });
    await expect(fetch(url).then((r) => r.arrayBuffer())).rejects.toThrow('terminated');
    const { requests } = await (await fetch(`${server.url}/__control/log`)).json();
    expect(requests.map((r: { status: number; fault?: string; bytesSent: number }) => [r.status, r.fault ?? null, r.bytesSent])).toEqual([
      [500, 'status', 0],
      [200, null, 23],
      [200, 'cut', 3],
    ]);
    const moved = await control({ setBranch: { repo: 'org/m', branch: 'dev', dir: join(dir, 'repo', 'sub') } });
    expect(server.control.commitOf('org/m', 'dev')).toBe(moved.commit);
    expect(await (await fetch(`${server.url}/org/m/resolve/dev/a.txt`)).text()).toBe('a');
    expect((await fetch(`${server.url}/org/m/resolve/main/a.txt`)).status).toBe(404);
  });

  it('runs standalone and prints where it listens', async () => {
    const child = spawn(process.execPath, ['--import', 'tsx', 'e2e/hub-server.ts', '--repo', `org/m=${join(dir, 'repo')}`, '--gated', `org/m=${TOKEN}`], { stdio: ['ignore', 'pipe', 'inherit'] });
    try {
      const line = await new Promise<string>((ok, fail) => {
        createInterface({ input: child.stdout! }).once('line', ok);
        child.once('exit', (code) => fail(new Error(`exited with ${code}`)));
      });
      const { url, cdnUrl } = JSON.parse(line);
      expect(cdnUrl).not.toBe(url);
      const info = await (await fetch(`${url}/api/models/org/m`)).json();
      expect(info.id).toBe('org/m');
      expect((await fetch(`${url}/org/m/resolve/main/config.json`)).status).toBe(401);
      const cfg = await fetch(`${url}/org/m/resolve/main/config.json`, { headers: { Authorization: `Bearer ${TOKEN}` } });
      expect(await cfg.text()).toBe(await readFile(join(dir, 'repo', 'config.json'), 'utf8'));
    } finally {
      child.kill('SIGTERM');
    }
  });
});
