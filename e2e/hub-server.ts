/**
 * A local stand-in for the Hugging Face Hub, serving model repositories from folders, for tests (vitest and
 * Playwright). It speaks the part of the Hub's HTTP API that @huggingface/hub uses for reading:
 *
 *   GET  /api/models/{owner}/{name}[/revision/{rev}]        model info: id, sha, siblings, gated, …
 *   GET  /api/models/{owner}/{name}/tree/{rev}[/{path}]     file listing, paged with a `Link: <…>; rel="next"` header
 *   GET|HEAD /{owner}/{name}/resolve/{rev}/{path}           small files: the bytes (Range supported);
 *                                                           LFS files (*.safetensors, …): 302 to the CDN origin
 *   GET|HEAD {cdnUrl}/cdn/{owner}/{name}/{commit}/{path}?sig=…   the bytes, on a second port (a real cross-origin
 *                                                           redirect), signed like the Hub's CDN links
 *
 * with the Hub's headers (X-Repo-Commit, X-Linked-Size, X-Linked-ETag, ETag, Content-Range, Accept-Ranges,
 * X-Error-Code, X-Cache "… from cloudfront" on the CDN) and CORS for browsers (preflight with Authorization and
 * Range allowed; Content-Range, ETag, X-Repo-Commit, … exposed).
 *
 * Gated repositories answer `resolve` with 401 without a token and 403 with another token than theirs (their
 * model info and listing stay public, as on the Hub).
 *
 * Faults for tests, set at start (`faults`), through `control.setFaults`, or by `POST /__control` with JSON
 * `{"faults": {…}}`: `cut` ends the connection after N body bytes, `stall` sends N bytes and then nothing,
 * `status` answers with an error status, each for the next `count` matching requests. Every request (but
 * control and preflight ones) is logged: `control.log`, or `GET /__control/log`.
 *
 * Standalone: `npx tsx e2e/hub-server.ts --repo owner/name=DIR [--repo …] [--gated owner/name=hf_TOKEN]
 *   [--port N] [--cdn-port N] [--page-size N] [--faults JSON] [--no-cloudfront]` prints one JSON line
 * `{"url": …, "cdnUrl": …}` once listening, and stops on SIGINT/SIGTERM.
 */
import { createHash, createHmac, randomBytes } from 'node:crypto';
import { createReadStream } from 'node:fs';
import { readdir, stat } from 'node:fs/promises';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join, relative, resolve as resolvePath, sep } from 'node:path';
import { pathToFileURL } from 'node:url';
import { parseArgs } from 'node:util';

export type ServerName = 'hub' | 'cdn';

/** Which requests a fault applies to: all of them unless narrowed. */
export interface FaultMatch {
  server?: ServerName;
  /** A substring of the decoded request path, e.g. ".safetensors". */
  path?: string;
}

export interface Faults {
  /** End the connection after `afterBytes` body bytes, for the next `count` file responses longer than that. */
  cut?: { afterBytes: number; count: number; match?: FaultMatch };
  /** Send `afterBytes` body bytes and then nothing (the connection stays open), for the next `count` file responses longer than that. */
  stall?: { afterBytes: number; count: number; match?: FaultMatch };
  /** Answer `code` (default 503) instead, for the next `count` matching requests. */
  status?: { code?: number; count: number; match?: FaultMatch };
}

export interface LoggedRequest {
  server: ServerName;
  method: string;
  /** Decoded path, without the query. */
  path: string;
  /** The Range header as sent, or null. */
  range: string | null;
  /** Whether an Authorization header came with the request. */
  authorization: boolean;
  /** 0 until the response head is sent. */
  status: number;
  /** Body bytes written. */
  bytesSent: number;
  fault?: 'cut' | 'stall' | 'status';
}

export interface HubServerOptions {
  /** Repository id → folder served as its `main` branch. */
  repos: Record<string, string>;
  /** Repository id → the one token that may download it (`hf_…`). */
  gated?: Record<string, string>;
  /** Entries per page of the tree listing (default 50; the Hub pages too). */
  pageSize?: number;
  /** Send `X-Cache: Hit from cloudfront` on CDN responses, as the Hub's CDN does (default true). */
  cloudfront?: boolean;
  faults?: Faults;
  /** Default 127.0.0.1. */
  host?: string;
  /** Default 0: a free port. */
  port?: number;
  cdnPort?: number;
}

export interface HubServerControl {
  setFaults(faults: Faults): void;
  /** The faults with what is left of their counts. */
  readonly faults: Faults;
  readonly log: readonly LoggedRequest[];
  clearLog(): void;
  /** Make `branch` of `repo` point at a new commit holding the files of `dir`; returns the commit. Old commits stay served. */
  setBranch(repo: string, branch: string, dir: string): Promise<string>;
  /** The commit a branch (or commit) of a repository points at. */
  commitOf(repo: string, revision?: string): string | undefined;
  /** Invalidate every CDN link handed out so far (they answer 403, as expired signed links do). */
  expireCdnUrls(): void;
  setCloudfront(on: boolean): void;
}

export interface HubServer {
  /** The Hub endpoint, e.g. http://127.0.0.1:40123 (no trailing slash). */
  url: string;
  /** The CDN origin the LFS files redirect to. */
  cdnUrl: string;
  control: HubServerControl;
  close(): Promise<void>;
}

interface RepoFile {
  path: string;
  abs: string;
  size: number;
  lfs: boolean;
  sha256: string;
  /** Git blob id: of the content, or of the LFS pointer for LFS files. */
  gitOid: string;
  pointerSize: number;
}

interface Commit {
  sha: string;
  files: Map<string, RepoFile>;
  date: string;
}

interface Repo {
  id: string;
  commits: Map<string, Commit>;
  refs: Map<string, string>;
  gatedToken?: string;
}

const LFS_PATTERN = /\.(safetensors|bin|pt|pth|ckpt|onnx|gguf|msgpack|h5|model|tflite|ot|npz|zip|tar|gz)$/;
const LFS_THRESHOLD = 10 * 1024 * 1024;
const EXPOSED = ['Content-Range', 'Content-Length', 'Content-Type', 'Accept-Ranges', 'ETag', 'Link', 'Location', 'X-Repo-Commit', 'X-Linked-Size', 'X-Linked-ETag', 'X-Error-Code', 'X-Error-Message', 'X-Request-Id', 'X-Cache'];
const CORS = {
  'Access-Control-Allow-Origin': '*',
  'Access-Control-Expose-Headers': EXPOSED.join(', '),
  'Cross-Origin-Resource-Policy': 'cross-origin',
  'Timing-Allow-Origin': '*',
};

export async function startHubServer(options: HubServerOptions): Promise<HubServer> {
  const host = options.host ?? '127.0.0.1';
  const pageSize = options.pageSize ?? 50;
  let cloudfront = options.cloudfront ?? true;
  let faults: Faults = structuredClone(options.faults ?? {});
  let signingKey = randomBytes(16);
  const log: LoggedRequest[] = [];
  const repos = new Map<string, Repo>();
  let commitCounter = 0;

  const addCommit = async (repo: Repo, dir: string): Promise<Commit> => {
    const files = await snapshot(dir);
    const sha = createHash('sha1').update(`${repo.id}\n${resolvePath(dir)}\n${++commitCounter}\n${[...files.values()].map((f) => `${f.path}:${f.gitOid}`).join('\n')}`).digest('hex');
    const commit = { sha, files, date: new Date().toISOString() };
    repo.commits.set(sha, commit);
    return commit;
  };
  for (const [id, dir] of Object.entries(options.repos)) {
    checkRepoId(id);
    const repo: Repo = { id, commits: new Map(), refs: new Map(), gatedToken: options.gated?.[id] };
    repo.refs.set('main', (await addCommit(repo, dir)).sha);
    repos.set(id, repo);
  }
  for (const id of Object.keys(options.gated ?? {})) if (!repos.has(id)) throw new Error(`gated repository ${id} is not among the repos`);

  const hubServer = http.createServer();
  const cdnServer = http.createServer();
  await Promise.all([listen(hubServer, host, options.port ?? 0), listen(cdnServer, host, options.cdnPort ?? 0)]);
  const url = `http://${host}:${(hubServer.address() as AddressInfo).port}`;
  const cdnUrl = `http://${host}:${(cdnServer.address() as AddressInfo).port}`;

  const resolveRev = (repo: Repo, rev: string): Commit | undefined => {
    const sha = repo.refs.get(rev) ?? rev;
    return repo.commits.get(sha);
  };
  const sign = (repoId: string, sha: string, path: string) => createHmac('sha256', signingKey).update(`${repoId}/${sha}/${path}`).digest('hex');

  /** The fault of this kind for this request, if one is due (its count is used up by it). */
  const takeFault = <K extends keyof Faults>(kind: K, server: ServerName, path: string, bodyLength?: number): NonNullable<Faults[K]> | null => {
    const fault = faults[kind];
    if (!fault || fault.count <= 0) return null;
    if (fault.match?.server && fault.match.server !== server) return null;
    if (fault.match?.path && !path.includes(fault.match.path)) return null;
    if (bodyLength !== undefined && 'afterBytes' in fault && bodyLength <= fault.afterBytes) return null;
    fault.count--;
    return fault as NonNullable<Faults[K]>;
  };

  const control: HubServerControl = {
    setFaults(next) {
      faults = structuredClone(next);
    },
    get faults() {
      return structuredClone(faults);
    },
    get log() {
      return log;
    },
    clearLog() {
      log.length = 0;
    },
    async setBranch(repoId, branch, dir) {
      const repo = repos.get(repoId);
      if (!repo) throw new Error(`no repository ${repoId}`);
      const commit = await addCommit(repo, dir);
      repo.refs.set(branch, commit.sha);
      return commit.sha;
    },
    commitOf(repoId, revision = 'main') {
      const repo = repos.get(repoId);
      return repo && resolveRev(repo, revision)?.sha;
    },
    expireCdnUrls() {
      signingKey = randomBytes(16);
    },
    setCloudfront(on) {
      cloudfront = on;
    },
  };

  // ------------------------------------------------------------------------------------------------------
  // Responses

  const logged = new WeakMap<http.ServerResponse, LoggedRequest>();
  /** Status line and headers; the status goes into the log at once, since a client may be done before 'close'. */
  const head = (res: http.ServerResponse, status: number, headers: http.OutgoingHttpHeaders) => {
    res.writeHead(status, headers);
    const entry = logged.get(res);
    if (entry) entry.status = status;
  };
  const sendJson = (res: http.ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}) => {
    const bytes = Buffer.from(JSON.stringify(body));
    head(res, status, { ...CORS, 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': bytes.length, ...headers });
    res.end(bytes);
  };
  const sendError = (res: http.ServerResponse, status: number, code: string, message: string) => sendJson(res, status, { error: message }, { 'X-Error-Code': code, 'X-Error-Message': message });

  /** The bytes of a file, honouring Range, with the faults that apply. */
  const sendFile = async (req: http.IncomingMessage, res: http.ServerResponse, entry: LoggedRequest, file: RepoFile, headers: Record<string, string>) => {
    const range = parseRange(req.headers.range, file.size);
    if (range === 'unsatisfiable') {
      head(res, 416, { ...CORS, ...headers, 'Content-Range': `bytes */${file.size}`, 'Content-Length': 0 });
      res.end();
      return;
    }
    const [start, end] = range ?? [0, file.size - 1];
    const length = end - start + 1;
    head(res, range ? 206 : 200, {
      ...CORS,
      ...headers,
      'Accept-Ranges': 'bytes',
      'Content-Type': file.path.endsWith('.json') ? 'application/json' : 'application/octet-stream',
      'Content-Length': length,
      ...(range ? { 'Content-Range': `bytes ${start}-${end}/${file.size}` } : {}),
    });
    if (req.method === 'HEAD' || length === 0) {
      res.end();
      return;
    }
    res.flushHeaders(); // a cut after 0 bytes still delivers the status line and headers, as a dropped transfer does
    const cut = takeFault('cut', entry.server, entry.path, length);
    const stall = cut ? null : takeFault('stall', entry.server, entry.path, length);
    const limit = cut?.afterBytes ?? stall?.afterBytes ?? length;
    try {
      if (limit > 0) {
        for await (const chunk of createReadStream(file.abs, { start, end: start + limit - 1 })) {
          // Waiting for each write to be flushed keeps memory flat and makes a cut land after exactly `limit` bytes.
          await new Promise<void>((ok, fail) => res.write(chunk, (e) => (e ? fail(e) : ok())));
          entry.bytesSent += (chunk as Buffer).length;
        }
      }
    } catch {
      return; // the client went away
    }
    if (cut) {
      entry.fault = 'cut';
      res.socket?.destroy();
    } else if (stall) {
      entry.fault = 'stall'; // nothing more is sent; the client's timeout (or close()) ends it
    } else {
      res.end();
    }
  };

  const modelInfoJson = (repo: Repo, commit: Commit) => ({
    _id: createHash('sha1').update(repo.id).digest('hex').slice(0, 24),
    id: repo.id,
    modelId: repo.id,
    author: repo.id.split('/')[0],
    sha: commit.sha,
    lastModified: commit.date,
    createdAt: commit.date,
    private: false,
    disabled: false,
    gated: repo.gatedToken ? 'manual' : false,
    downloads: 0,
    likes: 0,
    tags: ['safetensors'],
    library_name: 'transformers',
    siblings: [...commit.files.keys()].sort().map((rfilename) => ({ rfilename })),
  });

  const treeJson = (req: http.IncomingMessage, res: http.ServerResponse, u: URL, repo: Repo, rev: string, folder: string) => {
    const commit = resolveRev(repo, rev);
    if (!commit) return sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
    const recursive = u.searchParams.get('recursive') === 'true' || u.searchParams.get('recursive') === '1';
    const prefix = folder ? `${folder}/` : '';
    const files = [...commit.files.values()].filter((f) => f.path.startsWith(prefix));
    if (folder && files.length === 0) return sendError(res, 404, 'EntryNotFound', `${folder} does not exist on "${rev}"`);
    const entries: object[] = [];
    const dirs = new Set<string>();
    for (const f of files) {
      const rest = f.path.slice(prefix.length);
      const parts = rest.split('/');
      // Folders are listed like the Hub does: every level when recursive, the first one otherwise.
      for (let i = 1; i < parts.length && (recursive || i === 1); i++) dirs.add(prefix + parts.slice(0, i).join('/'));
      if (recursive || parts.length === 1) {
        entries.push({ type: 'file', oid: f.gitOid, size: f.size, path: f.path, ...(f.lfs ? { lfs: { oid: f.sha256, size: f.size, pointerSize: f.pointerSize } } : {}) });
      }
    }
    for (const d of dirs) entries.push({ type: 'directory', oid: createHash('sha1').update(`${commit.sha}/${d}`).digest('hex'), size: 0, path: d });
    entries.sort((a, b) => ((a as { path: string }).path < (b as { path: string }).path ? -1 : 1));
    const cursor = Math.max(0, Number(u.searchParams.get('cursor') ?? 0) || 0);
    const page = entries.slice(cursor, cursor + pageSize);
    const headers: Record<string, string> = {};
    if (cursor + pageSize < entries.length) {
      const next = new URL(`${url}${u.pathname}`);
      for (const [k, v] of u.searchParams) if (k !== 'cursor') next.searchParams.set(k, v);
      next.searchParams.set('cursor', String(cursor + pageSize));
      headers.Link = `<${next.href}>; rel="next"`;
    }
    sendJson(res, 200, page, headers);
  };

  const handleHub = async (req: http.IncomingMessage, res: http.ServerResponse, u: URL, entry: LoggedRequest, seg: string[]) => {
    if (seg[0] === 'api' && seg[1] === 'models' && seg.length >= 4) {
      const repo = repos.get(`${seg[2]}/${seg[3]}`);
      if (!repo) return sendError(res, 404, 'RepoNotFound', 'Repository not found');
      if (seg.length === 4 || (seg[4] === 'revision' && seg.length === 6)) {
        const rev = seg[5] ?? 'main';
        const commit = resolveRev(repo, rev === 'HEAD' ? 'main' : rev);
        if (!commit) return sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
        return sendJson(res, 200, modelInfoJson(repo, commit));
      }
      if (seg[4] === 'tree' && seg.length >= 6) return treeJson(req, res, u, repo, seg[5], seg.slice(6).join('/'));
      return sendError(res, 404, 'NotFound', 'Not found');
    }
    if (seg.length >= 5 && seg[2] === 'resolve') {
      const repo = repos.get(`${seg[0]}/${seg[1]}`);
      if (!repo) return sendError(res, 404, 'RepoNotFound', 'Repository not found');
      if (repo.gatedToken) {
        const auth = req.headers.authorization;
        if (!auth) return sendError(res, 401, 'GatedRepo', `Access to model ${repo.id} is restricted. You must have access to it and be authenticated to access it. Please log in.`);
        if (auth !== `Bearer ${repo.gatedToken}`) return sendError(res, 403, 'GatedRepo', `Access to model ${repo.id} is restricted and you are not in the authorized list. Visit ${url}/${repo.id} to ask for access.`);
      }
      const rev = seg[3];
      const commit = resolveRev(repo, rev);
      if (!commit) return sendError(res, 404, 'RevisionNotFound', `Invalid rev id: ${rev}`);
      const path = seg.slice(4).join('/');
      const file = commit.files.get(path);
      if (!file) return sendError(res, 404, 'EntryNotFound', 'Entry not found');
      const headers = { 'X-Repo-Commit': commit.sha, ETag: `"${file.lfs ? file.sha256 : file.gitOid}"` };
      if (!file.lfs) return sendFile(req, res, entry, file, headers);
      const location = `${cdnUrl}/cdn/${repo.id}/${commit.sha}/${path.split('/').map(encodeURIComponent).join('/')}?sig=${sign(repo.id, commit.sha, path)}`;
      const body = Buffer.from(`Found. Redirecting to ${location}`);
      head(res, 302, { ...CORS, ...headers, Location: location, 'X-Linked-Size': String(file.size), 'X-Linked-ETag': `"${file.sha256}"`, 'Content-Type': 'text/plain; charset=utf-8', 'Content-Length': body.length });
      res.end(req.method === 'HEAD' ? undefined : body);
      return;
    }
    sendError(res, 404, 'NotFound', 'Not found');
  };

  const handleCdn = async (req: http.IncomingMessage, res: http.ServerResponse, u: URL, entry: LoggedRequest, seg: string[]) => {
    if (seg[0] !== 'cdn' || seg.length < 5) return sendError(res, 404, 'NotFound', 'Not found');
    const repoId = `${seg[1]}/${seg[2]}`;
    const sha = seg[3];
    const path = seg.slice(4).join('/');
    const file = repos.get(repoId)?.commits.get(sha)?.files.get(path);
    if (!file || u.searchParams.get('sig') !== sign(repoId, sha, path)) {
      const body = Buffer.from('<?xml version="1.0" encoding="UTF-8"?><Error><Code>AccessDenied</Code><Message>Request has expired</Message></Error>');
      head(res, 403, { ...CORS, 'Content-Type': 'application/xml', 'Content-Length': body.length });
      res.end(body);
      return;
    }
    await sendFile(req, res, entry, file, { ETag: `"${file.sha256}"`, 'Cache-Control': 'public, max-age=604800, immutable', ...(cloudfront ? { 'X-Cache': 'Hit from cloudfront' } : {}) });
  };

  const handleControl = async (req: http.IncomingMessage, res: http.ServerResponse, seg: string[]) => {
    if (req.method === 'GET' && seg[1] === 'log') return sendJson(res, 200, { requests: log });
    if (req.method === 'GET') return sendJson(res, 200, { faults, repos: Object.fromEntries([...repos].map(([id, r]) => [id, Object.fromEntries(r.refs)])) });
    if (req.method !== 'POST') return sendError(res, 405, 'MethodNotAllowed', 'GET or POST');
    let body: { faults?: Faults; clearLog?: boolean; setBranch?: { repo: string; branch?: string; dir: string }; expireCdnUrls?: boolean; cloudfront?: boolean };
    try {
      const chunks: Buffer[] = [];
      for await (const c of req) chunks.push(c as Buffer);
      body = JSON.parse(Buffer.concat(chunks).toString('utf8') || '{}');
    } catch (e) {
      return sendError(res, 400, 'BadRequest', `not JSON: ${(e as Error).message}`);
    }
    if (body.clearLog) control.clearLog();
    if (body.faults) control.setFaults(body.faults);
    if (body.expireCdnUrls) control.expireCdnUrls();
    if (body.cloudfront !== undefined) control.setCloudfront(body.cloudfront);
    let commit: string | undefined;
    if (body.setBranch) {
      try {
        commit = await control.setBranch(body.setBranch.repo, body.setBranch.branch ?? 'main', body.setBranch.dir);
      } catch (e) {
        return sendError(res, 400, 'BadRequest', (e as Error).message);
      }
    }
    sendJson(res, 200, { ok: true, ...(commit ? { commit } : {}) });
  };

  const handler = (server: ServerName) => async (req: http.IncomingMessage, res: http.ServerResponse) => {
    try {
      const u = new URL(req.url ?? '/', server === 'hub' ? url : cdnUrl);
      if (req.method === 'OPTIONS') {
        head(res, 204, {
          ...CORS,
          'Access-Control-Allow-Methods': 'GET, HEAD, POST, OPTIONS',
          'Access-Control-Allow-Headers': 'Authorization, Range, Content-Type, Accept, If-None-Match, If-Range, X-Requested-With',
          'Access-Control-Max-Age': '600',
          ...(req.headers['access-control-request-private-network'] ? { 'Access-Control-Allow-Private-Network': 'true' } : {}),
        });
        return res.end();
      }
      let seg: string[];
      try {
        seg = u.pathname.split('/').slice(1).map(decodeURIComponent);
      } catch {
        return sendError(res, 400, 'BadRequest', 'malformed path');
      }
      if (server === 'hub' && seg[0] === '__control') return await handleControl(req, res, seg);
      const entry: LoggedRequest = { server, method: req.method ?? 'GET', path: `/${seg.join('/')}`, range: req.headers.range ?? null, authorization: req.headers.authorization !== undefined, status: 0, bytesSent: 0 };
      log.push(entry);
      logged.set(res, entry);
      const injected = takeFault('status', server, entry.path);
      if (injected) {
        entry.fault = 'status';
        const body = Buffer.from('injected fault');
        head(res, injected.code ?? 503, { ...CORS, 'Content-Type': 'text/plain', 'Content-Length': body.length });
        return res.end(body);
      }
      if (req.method !== 'GET' && req.method !== 'HEAD') return sendError(res, 405, 'MethodNotAllowed', 'read-only');
      await (server === 'hub' ? handleHub(req, res, u, entry, seg) : handleCdn(req, res, u, entry, seg));
    } catch (e) {
      if (!res.headersSent) sendError(res, 500, 'InternalError', (e as Error).message);
      else res.destroy();
    }
  };
  hubServer.on('request', handler('hub'));
  cdnServer.on('request', handler('cdn'));

  return {
    url,
    cdnUrl,
    control,
    async close() {
      for (const s of [hubServer, cdnServer]) s.closeAllConnections();
      await Promise.all([hubServer, cdnServer].map((s) => new Promise<void>((ok) => s.close(() => ok()))));
    },
  };
}

function listen(server: http.Server, host: string, port: number): Promise<void> {
  return new Promise((ok, fail) => {
    server.once('error', fail);
    server.listen(port, host, () => {
      server.off('error', fail);
      ok();
    });
  });
}

function checkRepoId(id: string): void {
  if (!/^[\w.-]+\/[\w.-]+$/.test(id)) throw new Error(`"${id}" is not a repository id (owner/name)`);
}

/** The files of a folder (hidden ones left out), with the hashes the Hub reports. */
async function snapshot(dir: string): Promise<Map<string, RepoFile>> {
  const root = resolvePath(dir);
  if (!(await stat(root).catch(() => null))?.isDirectory()) throw new Error(`${dir}: not a folder`);
  const files = new Map<string, RepoFile>();
  const walk = async (d: string) => {
    for (const e of await readdir(d, { withFileTypes: true })) {
      if (e.name.startsWith('.')) continue;
      const abs = join(d, e.name);
      if (e.isDirectory()) await walk(abs);
      else if (e.isFile()) {
        const path = relative(root, abs).split(sep).join('/');
        const { size } = await stat(abs);
        const sha256 = createHash('sha256');
        const blob = createHash('sha1').update(`blob ${size}\0`);
        for await (const chunk of createReadStream(abs)) {
          sha256.update(chunk as Buffer);
          blob.update(chunk as Buffer);
        }
        const lfs = LFS_PATTERN.test(path) || size >= LFS_THRESHOLD;
        const digest = sha256.digest('hex');
        const pointer = `version https://git-lfs.github.com/spec/v1\noid sha256:${digest}\nsize ${size}\n`;
        const gitOid = lfs ? createHash('sha1').update(`blob ${pointer.length}\0${pointer}`).digest('hex') : blob.digest('hex');
        files.set(path, { path, abs, size, lfs, sha256: digest, gitOid, pointerSize: pointer.length });
      }
    }
  };
  await walk(root);
  return files;
}

/** [start, end] (inclusive) for a single `bytes=` range; null to send everything; 'unsatisfiable' for 416. */
function parseRange(header: string | undefined, size: number): [number, number] | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m || (m[1] === '' && m[2] === '')) return null; // multiple or malformed ranges: a server may ignore Range
  if (m[1] === '') {
    const suffix = Number(m[2]);
    if (suffix === 0 || size === 0) return 'unsatisfiable';
    return [Math.max(0, size - suffix), size - 1];
  }
  const start = Number(m[1]);
  const end = m[2] === '' ? size - 1 : Math.min(Number(m[2]), size - 1);
  if (start >= size || end < start) return 'unsatisfiable';
  return [start, end];
}

// ---------------------------------------------------------------------------------------------------------
// Standalone

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      repo: { type: 'string', multiple: true, default: [] },
      gated: { type: 'string', multiple: true, default: [] },
      port: { type: 'string' },
      'cdn-port': { type: 'string' },
      host: { type: 'string' },
      'page-size': { type: 'string' },
      faults: { type: 'string' },
      'no-cloudfront': { type: 'boolean' },
    },
  });
  const pairs = (list: string[], what: string) =>
    Object.fromEntries(
      list.map((s) => {
        const i = s.indexOf('=');
        if (i <= 0) throw new Error(`--${what} ${s}: expected owner/name=${what === 'repo' ? 'DIR' : 'TOKEN'}`);
        return [s.slice(0, i), s.slice(i + 1)];
      }),
    );
  if (values.repo.length === 0) throw new Error('give at least one --repo owner/name=DIR');
  const server = await startHubServer({
    repos: pairs(values.repo, 'repo'),
    gated: pairs(values.gated, 'gated'),
    host: values.host,
    port: values.port ? Number(values.port) : undefined,
    cdnPort: values['cdn-port'] ? Number(values['cdn-port']) : undefined,
    pageSize: values['page-size'] ? Number(values['page-size']) : undefined,
    faults: values.faults ? JSON.parse(values.faults) : undefined,
    cloudfront: !values['no-cloudfront'],
  });
  process.stdout.write(`${JSON.stringify({ url: server.url, cdnUrl: server.cdnUrl })}\n`);
  const stop = () => void server.close().then(() => process.exit(0));
  process.once('SIGINT', stop);
  process.once('SIGTERM', stop);
}

if (process.argv[1] && import.meta.url === pathToFileURL(resolvePath(process.argv[1])).href) {
  main().catch((e) => {
    process.stderr.write(`hub-server: ${(e as Error).message}\n`);
    process.exit(1);
  });
}
