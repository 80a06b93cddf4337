/**
 * Browser merge benchmark (issue #3): `npm run bench:browser [-- options]`. Not part of `npm test`.
 *
 * Merges a generated bf16 triplet (bench/generate.ts, 1.71 GB per model by default) from local files into OPFS
 * through the studio page itself, in headless Chromium (the executable and flags of playwright.config.ts, a
 * persistent profile in a temp folder so OPFS is on disk), served by `vite preview` from dist/:
 *   - the three model folders go into the slots' `<input webkitdirectory>` with Playwright's setInputFiles (for a
 *     local browser Playwright hands Chromium the paths; nothing is copied through the protocol);
 *   merge  the Merge button, CPU backend, default chunking: File.slice().arrayBuffer() reads, the WebAssembly
 *          kernel, sync-access-handle writes into OPFS, resume points, side files, library entry;
 *   copy   the same with `?ioOnly=1` in the page URL: the engine's I/O-only mode, every read and write of the
 *          merge with the arithmetic replaced by a copy of cp's bytes. Same bytes read and written, same code.
 * Runs alternate (copy, merge, merge, copy, …) after one untimed warm-up of each; each output is deleted from
 * the library (as a person would) before the next run. Time is taken in the page, from the click on Merge to
 * the "Merged …" line. Memory: peak RSS of Chromium's processes (polled in /proc every 100 ms), the renderer
 * that runs the page and its workers on its own and all of Chromium's processes summed.
 *
 * Options: --size large|small|tiny (default large), --reps N (timed runs of each kind, default 2), --keep (keep
 * the generated models in <tmpdir>/chatvec-bench-browser), --build (run `vite build` even if dist/ looks current).
 * Results: stdout and bench/browser-results.json.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import { createServer } from 'node:net';
import os from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { chromium, type BrowserContext, type Page } from '@playwright/test';
import config from '../playwright.config.ts';
import { ensureTriplet, parameterCount, ROLES, type BenchModelSpec } from './generate.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH_DIR = join(os.tmpdir(), 'chatvec-bench-browser');

/** The same shapes as `npm run bench` (bench/run.ts). */
const SIZES: Record<string, BenchModelSpec> = {
  large: { hidden: 2048, intermediate: 5632, layers: 16, heads: 16, kvHeads: 4, vocab: 32000, shards: 2 },
  small: { hidden: 1024, intermediate: 2816, layers: 12, heads: 16, kvHeads: 4, vocab: 32000, shards: 1 },
  // a smoke test of the bench itself, not a measurement
  tiny: { hidden: 256, intermediate: 704, layers: 4, heads: 8, kvHeads: 4, vocab: 32000, shards: 2 },
};

type Kind = 'merge' | 'copy';

interface Run {
  kind: Kind;
  warmup: boolean;
  seconds: number;
  outputBytes: number;
  /** Output MB/s (10^6 bytes); the merge reads three times as much as it writes. */
  outMBps: number;
  peakRendererRssMB: number;
  peakChromiumRssMB: number;
  /** SHA-256 of 4 MiB in the middle of the output: equal within a kind, different between kinds. */
  sample: string;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;

async function main(): Promise<void> {
  const { values } = parseArgs({ options: { size: { type: 'string', default: 'large' }, reps: { type: 'string', default: '2' }, keep: { type: 'boolean' }, build: { type: 'boolean' } } });
  const spec = SIZES[values.size];
  if (!spec) throw new Error(`--size ${values.size}: use ${Object.keys(SIZES).join(', ')}`);
  const reps = Number(values.reps);
  if (!Number.isSafeInteger(reps) || reps < 1) throw new Error(`--reps ${values.reps}: a positive integer`);

  ensureBuild(!!values.build);
  const triplet = await ensureTriplet(join(BENCH_DIR, values.size), spec, log);
  log(`triplet: ${(triplet.modelFileBytes / 1e9).toFixed(2)} GB per model, ${triplet.generated ? `generated in ${triplet.generateSeconds.toFixed(0)} s` : 'reused'}`);
  const profile = mkdtempSync(join(os.tmpdir(), 'chatvec-bench-profile-'));
  const port = await freePort();
  const preview = startPreview(port);
  let context: BrowserContext | null = null;
  try {
    await waitForServer(`http://127.0.0.1:${port}/`);
    context = await chromium.launchPersistentContext(profile, { ...config.use?.launchOptions, headless: true, viewport: { width: 1200, height: 900 } });
    const page = context.pages()[0] ?? (await context.newPage());
    const pageErrors: string[] = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.goto(`http://127.0.0.1:${port}/?ioOnly=0`);
    await page.getByTestId('status').filter({ hasText: 'Ready to merge' }).waitFor({ timeout: 60_000 });

    const t0 = performance.now();
    for (const role of ROLES) {
      const slot = page.getByTestId(`slot-${role}`);
      await slot.getByTestId('folder-input').setInputFiles(triplet[role]);
      await slot.getByTestId('slot-ref').filter({ hasText: `local/${role}` }).waitFor({ timeout: 60_000 });
    }
    const inputSeconds = (performance.now() - t0) / 1000;
    await page.locator('[data-testid="report"][data-state="ready"]').waitFor({ timeout: 60_000 });
    await page.getByTestId('status').filter({ hasText: 'Ready to merge' }).waitFor({ timeout: 60_000 });
    if (await page.getByTestId('merge-backend').count()) await page.getByTestId('merge-backend').selectOption('cpu');
    const isolated = await page.evaluate(() => crossOriginIsolated);
    log(`inputs: 3 folders through setInputFiles and loaded in ${inputSeconds.toFixed(1)} s; crossOriginIsolated ${isolated}`);

    const rss = new RssSampler(profile);
    const idle = rss.sample();
    const order: Kind[] = [];
    for (let i = 0; i < reps; i++) order.push(...((i % 2 === 0 ? ['copy', 'merge'] : ['merge', 'copy']) as Kind[]));
    const runs: Run[] = [];
    for (const [i, kind] of [...(['copy', 'merge'] as Kind[]), ...order].entries()) {
      const warmup = i < 2;
      const run = await timedRun(page, kind, `bench ${kind} ${i}`, rss, warmup);
      runs.push(run);
      log(`${warmup ? 'warm-up ' : ''}${kind}: ${run.seconds.toFixed(2)} s, ${run.outMBps.toFixed(0)} MB/s out, peak RSS renderer ${run.peakRendererRssMB} MB, all ${run.peakChromiumRssMB} MB`);
    }
    if (pageErrors.length) throw new Error(`errors in the page: ${pageErrors.join('; ')}`);
    checkSamples(runs);

    const timed = (kind: Kind) => runs.filter((r) => r.kind === kind && !r.warmup);
    const m = timed('merge'), c = timed('copy');
    const summary = {
      machine: machine(),
      chromium: context.browser()?.version() ?? execFileSync(String(config.use?.launchOptions?.executablePath), ['--version']).toString().trim(),
      size: values.size,
      spec,
      parameters: parameterCount(spec),
      modelFileBytes: triplet.modelFileBytes,
      outputBytes: m[0].outputBytes,
      inputSeconds: round(inputSeconds),
      idleRss: idle,
      mergeSeconds: round(median(m.map((r) => r.seconds))),
      copySeconds: round(median(c.map((r) => r.seconds))),
      ratio: round(median(m.map((r) => r.seconds)) / median(c.map((r) => r.seconds))),
      mergeOutMBps: round(median(m.map((r) => r.outMBps)), 0),
      copyOutMBps: round(median(c.map((r) => r.outMBps)), 0),
      mergePeakRendererRssMB: Math.max(...m.map((r) => r.peakRendererRssMB)),
      copyPeakRendererRssMB: Math.max(...c.map((r) => r.peakRendererRssMB)),
      mergePeakChromiumRssMB: Math.max(...m.map((r) => r.peakChromiumRssMB)),
      copyPeakChromiumRssMB: Math.max(...c.map((r) => r.peakChromiumRssMB)),
      runs,
    };
    await writeFile(join(ROOT, 'bench', 'browser-results.json'), JSON.stringify(summary, null, 2) + '\n');
    printTable(summary);
  } finally {
    await context?.close().catch(() => undefined);
    preview.kill();
    rmSync(profile, { recursive: true, force: true });
    if (!values.keep) rmSync(BENCH_DIR, { recursive: true, force: true });
  }
}

/** One merge (or I/O-only copy) through the page, timed in the page from the click to the "Merged …" line; its output is then deleted. */
async function timedRun(page: Page, kind: Kind, name: string, rss: RssSampler, warmup: boolean): Promise<Run> {
  // The merge panel reads the knob from the URL at each merge and passes it to the worker's tune().
  await page.evaluate((query) => history.replaceState(null, '', query), `/?ioOnly=${kind === 'copy' ? 1 : 0}`);
  await page.getByTestId('merge-name').fill(name);
  rss.start();
  let seconds: number;
  try {
    seconds = await page.evaluate(
      (name) =>
        // No named functions in here: tsx would wrap them in a helper the page does not have.
        new Promise<number>((resolve, reject) => {
          const start = performance.now();
          const observer = new MutationObserver(() => {
            const error = document.querySelector('[data-testid="merge-error"]');
            const done = document.querySelector('[data-testid="merge-done"]')?.textContent?.includes(`Merged ${name}:`);
            if (!error && !done) return;
            observer.disconnect();
            if (error) reject(new Error(error.textContent ?? 'merge failed'));
            else resolve((performance.now() - start) / 1000);
          });
          observer.observe(document.body, { childList: true, subtree: true, characterData: true });
          (document.querySelector('[data-testid="merge-start"]') as HTMLButtonElement).click();
        }),
      name,
    );
  } finally {
    rss.stop();
  }
  const { id, outputBytes, sample } = await page.evaluate(async () => {
    const library = await (await navigator.storage.getDirectory()).getDirectoryHandle('library');
    for await (const [id, handle] of (library as unknown as { entries(): AsyncIterable<[string, FileSystemHandle]> }).entries()) {
      if (handle.kind !== 'directory') continue;
      const dir = handle as FileSystemDirectoryHandle;
      const entry = JSON.parse(await (await (await dir.getFileHandle('.studio-entry.json')).getFile()).text()) as { totalBytes: number };
      const weights = await (await dir.getFileHandle('model.safetensors')).getFile();
      const middle = Math.floor(weights.size / 2);
      const digest = await crypto.subtle.digest('SHA-256', await weights.slice(middle, middle + 4 * 1024 * 1024).arrayBuffer());
      return { id, outputBytes: entry.totalBytes, sample: [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('') };
    }
    throw new Error('no model in the library after the merge');
  });
  const card = page.locator(`[data-testid="library-entry"][data-id="${id}"]`);
  await card.getByTestId('library-delete').click();
  await card.getByTestId('library-delete-confirm').click();
  await card.waitFor({ state: 'detached', timeout: 60_000 });
  return { kind, warmup, seconds: round(seconds, 3), outputBytes, outMBps: round(outputBytes / seconds / 1e6, 1), peakRendererRssMB: rss.peakRendererMB, peakChromiumRssMB: rss.peakTotalMB, sample };
}

/** The knob took effect and the runs are deterministic: one output sample per kind, different between kinds. */
function checkSamples(runs: Run[]): void {
  const by = (kind: Kind) => new Set(runs.filter((r) => r.kind === kind).map((r) => r.sample));
  const merge = by('merge'), copy = by('copy');
  if (merge.size !== 1 || copy.size !== 1) throw new Error('runs of one kind wrote different bytes');
  if ([...merge][0] === [...copy][0]) throw new Error('the I/O-only runs wrote the merge: is dist/ built with the ?ioOnly knob? (run with --build)');
}

/** Peak RSS of the Chromium started with `--user-data-dir=<profile>` and its child processes, polled from /proc. */
class RssSampler {
  peakRendererMB = 0;
  peakTotalMB = 0;
  private timer: ReturnType<typeof setInterval> | null = null;

  constructor(private readonly profile: string) {}

  /** RSS now, in MB: the largest renderer, and all processes summed. */
  sample(): { rendererMB: number; totalMB: number } {
    const procs = readdirSync('/proc').filter((d) => /^\d+$/.test(d));
    const parent = new Map<string, string>();
    const cmd = new Map<string, string>();
    for (const pid of procs) {
      try {
        const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
        parent.set(pid, stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]);
        cmd.set(pid, readFileSync(`/proc/${pid}/cmdline`, 'utf8'));
      } catch {
        /* the process ended meanwhile */
      }
    }
    const roots = [...cmd].filter(([, c]) => c.includes(`--user-data-dir=${this.profile}`) && !c.includes('--type=')).map(([pid]) => pid);
    const tree = new Set(roots);
    for (let grew = true; grew; ) {
      grew = false;
      for (const [pid, ppid] of parent) {
        if (tree.has(pid) || !tree.has(ppid)) continue;
        tree.add(pid);
        grew = true;
      }
    }
    let rendererMB = 0, totalMB = 0;
    for (const pid of tree) {
      const mb = rssMB(pid);
      totalMB += mb;
      if (cmd.get(pid)?.includes('--type=renderer')) rendererMB = Math.max(rendererMB, mb);
    }
    return { rendererMB: Math.round(rendererMB), totalMB: Math.round(totalMB) };
  }

  start(): void {
    this.peakRendererMB = 0;
    this.peakTotalMB = 0;
    const poll = () => {
      const { rendererMB, totalMB } = this.sample();
      this.peakRendererMB = Math.max(this.peakRendererMB, rendererMB);
      this.peakTotalMB = Math.max(this.peakTotalMB, totalMB);
    };
    poll();
    this.timer = setInterval(poll, 100);
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
  }
}

function rssMB(pid: string): number {
  try {
    const m = /^VmRSS:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) / 1024 : 0;
  } catch {
    return 0;
  }
}

/** dist/ from `vite build`, unless it is there and already has the `?ioOnly` knob. */
function ensureBuild(force: boolean): void {
  const assets = join(ROOT, 'dist', 'assets');
  const current = existsSync(join(ROOT, 'dist', 'index.html')) && existsSync(assets) && readdirSync(assets).some((f) => f.endsWith('.js') && readFileSync(join(assets, f), 'utf8').includes('ioOnly'));
  if (current && !force) return;
  log('building dist/ (vite build) …');
  execFileSync(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'build'], { cwd: ROOT, stdio: ['ignore', 'ignore', 'inherit'] });
}

function startPreview(port: number): ChildProcess {
  // vite itself (not through npx), so that killing it ends the server.
  return spawn(process.execPath, [join(ROOT, 'node_modules', 'vite', 'bin', 'vite.js'), 'preview', '--host', '127.0.0.1', '--port', String(port), '--strictPort'], { cwd: ROOT, stdio: 'ignore' });
}

async function waitForServer(url: string): Promise<void> {
  for (let i = 0; i < 100; i++) {
    if (await fetch(url).then((r) => r.ok, () => false)) return;
    await new Promise((r) => setTimeout(r, 200));
  }
  throw new Error(`vite preview did not answer at ${url}`);
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const server = createServer();
    server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      const { port } = server.address() as { port: number };
      server.close(() => resolve(port));
    });
  });
}

function machine(): string {
  const cpu = os.cpus()[0]?.model.trim() ?? 'unknown CPU';
  return `${cpu}, ${os.cpus().length} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB RAM, ${os.type()} ${os.release()} ${os.arch()}, Node ${process.version}`;
}

function printTable(s: { machine: string; chromium: string; size: string; modelFileBytes: number; outputBytes: number; mergeSeconds: number; copySeconds: number; ratio: number; mergeOutMBps: number; copyOutMBps: number; mergePeakRendererRssMB: number; copyPeakRendererRssMB: number; mergePeakChromiumRssMB: number; copyPeakChromiumRssMB: number; runs: Run[] }): void {
  const lines = [
    `machine: ${s.machine}; ${s.chromium}`,
    `size ${s.size}: ${(s.modelFileBytes / 1e9).toFixed(2)} GB per model, output ${(s.outputBytes / 1e9).toFixed(2)} GB`,
    '',
    '| kind | runs (s, in order) | median s | out MB/s | in+out MB/s | peak RSS renderer MB | peak RSS all Chromium MB |',
    '|------|--------------------|---------:|---------:|------------:|---------------------:|-------------------------:|',
    ...(['merge', 'copy'] as Kind[]).map((kind) => {
      const runs = s.runs.filter((r) => r.kind === kind && !r.warmup);
      const sec = kind === 'merge' ? s.mergeSeconds : s.copySeconds;
      const out = kind === 'merge' ? s.mergeOutMBps : s.copyOutMBps;
      return `| ${kind} | ${runs.map((r) => r.seconds.toFixed(2)).join(', ')} | ${sec.toFixed(2)} | ${out} | ${Math.round(out * 4)} | ${kind === 'merge' ? s.mergePeakRendererRssMB : s.copyPeakRendererRssMB} | ${kind === 'merge' ? s.mergePeakChromiumRssMB : s.copyPeakChromiumRssMB} |`;
    }),
    '',
    `ratio merge / copy (medians): ${s.ratio.toFixed(2)} (target ≤ 1.5)`,
  ];
  process.stdout.write(`${lines.join('\n')}\n`);
}

main().catch((e) => {
  log(`bench:browser: ${(e as Error).stack ?? e}`);
  process.exit(1);
});
