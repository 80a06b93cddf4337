/**
 * Streaming-merge benchmark (issue #2): `npm run bench [-- options]`.
 *
 * For each model size it generates (or reuses) a bf16 Llama-layout base/chat/cp triplet under
 * <os.tmpdir()>/chatvec-bench, then times, as child processes run the same way
 * (`node --import tsx …`, one process each):
 *   merge  the real CLI: src/cli/main.ts merge --base … --chat … --cp … --alpha 1 --out … --force
 *   copy   the same CLI command with CHATVEC_IO_ONLY=1: the engine does every read and write of the
 *          merge, with the arithmetic replaced by a copy of cp's bytes
 * in alternating order (copy, merge, merge, copy, …), with the page cache warm (inputs read once
 * beforehand) and, when the page cache can be dropped (root), cold (dropped before every run).
 * Peak RSS of each child comes from /usr/bin/time (ru_maxrss) or, without it, from polling VmHWM.
 * Finally one merge of the smallest triplet runs under --cpu-prof and the top self-time functions
 * are listed. Results go to stdout and bench/results.json.
 *
 * options:
 *   --keep            keep the generated triplets (default: delete them at the end)
 *   --reps N          timed runs of each kind per size and cache mode (default 3; one untimed
 *                     warm-up run of each kind comes first)
 *   --sizes a,b       which sizes (default large,small)
 *   --no-cold         skip the cold-cache series
 *   --no-profile      skip the CPU profile
 */
import { spawn } from 'node:child_process';
import { createReadStream, existsSync } from 'node:fs';
import { mkdir, readdir, readFile, rm, stat, statfs, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { dirname, join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ensureTriplet, parameterCount, tensorBytes, type BenchModelSpec, type GeneratedTriplet } from './generate.ts';

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const BENCH_DIR = join(os.tmpdir(), 'chatvec-bench');
const TIME = '/usr/bin/time';

const SIZES: Record<string, BenchModelSpec> = {
  // 1,710,000,000-ish bytes of bf16 per model (855 M parameters)
  large: { hidden: 2048, intermediate: 5632, layers: 16, heads: 16, kvHeads: 4, vocab: 32000, shards: 2 },
  // ~0.40 GB per model
  small: { hidden: 1024, intermediate: 2816, layers: 12, heads: 16, kvHeads: 4, vocab: 32000, shards: 1 },
  // ~50 MB per model: a smoke test of the bench itself (`--sizes tiny`), not a measurement
  tiny: { hidden: 256, intermediate: 704, layers: 4, heads: 8, kvHeads: 4, vocab: 32000, shards: 2 },
};

type Kind = 'merge' | 'copy';
type CacheMode = 'warm' | 'cold';

interface RunResult {
  kind: Kind;
  cache: CacheMode;
  order: number;
  wallSeconds: number;
  peakRssMB: number;
  outputBytes: number;
  /** The child's own timing (merge: the CLI's "merged … in X s"; copy: its JSON line). */
  selfSeconds: number | null;
}

const log = (s: string) => process.stderr.write(`${s}\n`);
const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  const m = s.length >> 1;
  return s.length % 2 ? s[m] : (s[m - 1] + s[m]) / 2;
};
const round = (x: number, d = 2) => Math.round(x * 10 ** d) / 10 ** d;
const insideRatio = (m: RunResult[], c: RunResult[]) => {
  const ms = m.map((r) => r.selfSeconds), cs = c.map((r) => r.selfSeconds);
  return ms.every((x) => x !== null) && cs.every((x) => x !== null) ? round(median(ms as number[]) / median(cs as number[]), 2) : null;
};

function sh(cmd: string, args: string[]): Promise<number> {
  return new Promise((res) => {
    const p = spawn(cmd, args, { stdio: 'ignore' });
    p.on('exit', (code) => res(code ?? 1));
    p.on('error', () => res(1));
  });
}

async function dropCaches(): Promise<boolean> {
  await sh('sync', []);
  try {
    await writeFile('/proc/sys/vm/drop_caches', '3\n');
    return true;
  } catch {
    return false;
  }
}

async function warm(files: string[]): Promise<void> {
  for (const f of files) {
    await new Promise<void>((res, rej) => {
      const s = createReadStream(f, { highWaterMark: 8 * 1024 * 1024 });
      s.on('data', () => undefined);
      s.on('end', res);
      s.on('error', rej);
    });
  }
}

async function folderBytes(dir: string): Promise<number> {
  let sum = 0;
  for (const f of await readdir(dir)) if (f.endsWith('.safetensors')) sum += (await stat(join(dir, f))).size;
  return sum;
}

/** Run `node --import tsx <args>` in ROOT; wall time from spawn to exit, peak RSS of the process. */
async function timeChild(nodeArgs: string[], env: NodeJS.ProcessEnv = process.env): Promise<{ wallSeconds: number; peakRssMB: number; stdout: string; stderr: string; code: number }> {
  const useTime = existsSync(TIME);
  const rssFile = join(BENCH_DIR, `rss-${process.pid}.txt`);
  const [cmd, args] = useTime ? [TIME, ['-f', '%M', '-o', rssFile, process.execPath, ...nodeArgs]] : [process.execPath, nodeArgs];
  const t0 = performance.now();
  const child = spawn(cmd, args, { cwd: ROOT, env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '', stderr = '';
  child.stdout.on('data', (d) => (stdout += d));
  child.stderr.on('data', (d) => (stderr = (stderr + d).slice(-20000)));
  let hwmKB = 0;
  const poll = useTime
    ? null
    : setInterval(() => {
        readFile(`/proc/${child.pid}/status`, 'utf8').then((s) => {
          const m = /VmHWM:\s+(\d+) kB/.exec(s);
          if (m) hwmKB = Math.max(hwmKB, Number(m[1]));
        }, () => undefined);
      }, 20);
  const code: number = await new Promise((res) => child.on('exit', (c) => res(c ?? 1)));
  const wallSeconds = (performance.now() - t0) / 1000;
  if (poll) clearInterval(poll);
  let peakRssMB = hwmKB / 1024;
  if (useTime) {
    const txt = await readFile(rssFile, 'utf8').catch(() => '');
    const kb = Number(txt.trim().split('\n').pop());
    peakRssMB = Number.isFinite(kb) ? kb / 1024 : NaN;
    await rm(rssFile, { force: true });
  }
  return { wallSeconds, peakRssMB, stdout, stderr, code };
}

async function runOnce(kind: Kind, t: GeneratedTriplet, cache: CacheMode, order: number): Promise<RunResult> {
  const out = join(BENCH_DIR, `out-${kind}`);
  await rm(out, { recursive: true, force: true });
  await sh('sync', []);
  if (cache === 'cold') await dropCaches();
  const io = ['--base', t.base, '--chat', t.chat, '--cp', t.cp];
  const args = ['--import', 'tsx', 'src/cli/main.ts', 'merge', ...io, '--alpha', '1', '--out', out, '--force'];
  const r = await timeChild(args, kind === 'copy' ? { ...process.env, CHATVEC_IO_ONLY: '1' } : process.env);
  if (r.code !== 0) throw new Error(`${kind} failed (exit ${r.code}):\n${r.stderr}`);
  const m = /merged .* in ([\d.]+) s/.exec(r.stderr);
  const selfSeconds = m ? Number(m[1]) : null;
  const outputBytes = await folderBytes(out);
  await rm(out, { recursive: true, force: true });
  const res: RunResult = { kind, cache, order, wallSeconds: round(r.wallSeconds, 3), peakRssMB: round(r.peakRssMB, 1), outputBytes, selfSeconds };
  log(`    ${order ? `#${order}` : 'warm-up'} ${cache} ${kind.padEnd(5)} ${res.wallSeconds.toFixed(2)} s wall${selfSeconds !== null ? ` (${selfSeconds.toFixed(2)} s inside)` : ''}, peak RSS ${res.peakRssMB.toFixed(0)} MB`);
  return res;
}

interface ProfileRow {
  function: string;
  where: string;
  selfMs: number;
  percent: number;
}

/** Self time per function (summed over call sites) from a V8 .cpuprofile. */
export function summarizeProfile(profile: { nodes: { id: number; callFrame: { functionName: string; url: string; lineNumber: number } }[]; samples: number[]; timeDeltas: number[] }, top = 15): { totalMs: number; rows: ProfileRow[] } {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const self = new Map<string, { fn: string; where: string; us: number }>();
  let total = 0;
  profile.samples.forEach((id, i) => {
    const dt = profile.timeDeltas[i] ?? 0;
    total += dt;
    const cf = byId.get(id)!.callFrame;
    const file = cf.url.startsWith('file:') ? relative(ROOT, fileURLToPath(cf.url)) : cf.url;
    // tsx emits each module on one line, so line numbers of project files say nothing; keep those of node internals.
    const where = file && cf.lineNumber > 0 ? `${file}:${cf.lineNumber + 1}` : file;
    const key = `${cf.functionName}|${where}`;
    const e = self.get(key) ?? { fn: cf.functionName || '(anonymous)', where, us: 0 };
    e.us += dt;
    self.set(key, e);
  });
  const rows = [...self.values()].sort((a, b) => b.us - a.us).slice(0, top).map((e) => ({ function: e.fn, where: e.where, selfMs: round(e.us / 1000, 0), percent: round((100 * e.us) / total, 1) }));
  return { totalMs: round(total / 1000, 0), rows };
}

async function profileMerge(t: GeneratedTriplet): Promise<{ totalMs: number; rows: ProfileRow[]; wallSeconds: number }> {
  const out = join(BENCH_DIR, 'out-profile');
  const profDir = join(BENCH_DIR, 'profile');
  await rm(out, { recursive: true, force: true });
  await rm(profDir, { recursive: true, force: true });
  await mkdir(profDir, { recursive: true });
  const r = await timeChild(['--cpu-prof', '--cpu-prof-dir', profDir, '--import', 'tsx', 'src/cli/main.ts', 'merge', '--base', t.base, '--chat', t.chat, '--cp', t.cp, '--alpha', '1', '--out', out, '--force']);
  if (r.code !== 0) throw new Error(`profiled merge failed:\n${r.stderr}`);
  await rm(out, { recursive: true, force: true });
  // CPU.<date>.<time>.<pid>.<thread>.<seq>.cpuprofile: thread 0 is the main thread (tsx's loader thread writes its own).
  const files = (await readdir(profDir)).filter((f) => f.endsWith('.cpuprofile'));
  const main = files.find((f) => /\.\d+\.0\.\d+\.cpuprofile$/.test(f));
  let best: { size: number; path: string } | null = main ? { size: 0, path: join(profDir, main) } : null;
  for (const f of main ? [] : files) {
    const size = (await stat(join(profDir, f))).size;
    if (!best || size > best.size) best = { size, path: join(profDir, f) };
  }
  if (!best) throw new Error('no .cpuprofile written');
  const summary = summarizeProfile(JSON.parse(await readFile(best.path, 'utf8')));
  await rm(profDir, { recursive: true, force: true });
  return { ...summary, wallSeconds: round(r.wallSeconds, 2) };
}

function pad(s: string | number, n: number, left = false): string {
  const x = String(s);
  return left ? x.padEnd(n) : x.padStart(n);
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: { keep: { type: 'boolean' }, reps: { type: 'string' }, sizes: { type: 'string' }, 'no-cold': { type: 'boolean' }, 'no-profile': { type: 'boolean' } },
  });
  const reps = values.reps ? Number(values.reps) : 3;
  if (!Number.isInteger(reps) || reps < 1) throw new Error('--reps must be a positive integer');
  const sizeNames = (values.sizes ?? 'large,small').split(',').map((s) => s.trim()).filter(Boolean);
  for (const s of sizeNames) if (!SIZES[s]) throw new Error(`unknown size "${s}" (have ${Object.keys(SIZES).join(', ')})`);

  await mkdir(BENCH_DIR, { recursive: true });
  const need = sizeNames.reduce((a, s) => a + 4 * tensorBytes(SIZES[s]), 0) * 1.05; // 3 inputs + 1 output
  const fs = await statfs(BENCH_DIR);
  const free = fs.bavail * fs.bsize;
  log(`bench dir ${BENCH_DIR}: ${(free / 1e9).toFixed(1)} GB free, up to ${(need / 1e9).toFixed(1)} GB needed`);
  if (free < need) throw new Error(`not enough disk space in ${BENCH_DIR}`);

  const cpu = os.cpus();
  const machine = {
    cpu: cpu[0]?.model ?? 'unknown',
    cores: cpu.length,
    totalMemGB: round(os.totalmem() / 2 ** 30, 1),
    node: process.version,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
  };
  log(`machine: ${machine.cpu}, ${machine.cores} cores, ${machine.totalMemGB} GiB, node ${machine.node}`);
  const canDrop = !values['no-cold'] && (await dropCaches());
  if (!values['no-cold'] && !canDrop) log('cannot drop the page cache (not root?): only the warm-cache series runs');
  const modes: CacheMode[] = canDrop ? ['warm', 'cold'] : ['warm'];

  const triplets: Record<string, GeneratedTriplet> = {};
  const results = [];
  try {
    for (const name of sizeNames) {
      const spec = SIZES[name];
      log(`\n== ${name}: hidden ${spec.hidden}, intermediate ${spec.intermediate}, ${spec.layers} layers, vocab ${spec.vocab}: ${(parameterCount(spec) / 1e6).toFixed(0)} M parameters, ${(tensorBytes(spec) / 1e9).toFixed(2)} GB bf16 per model`);
      const t = await ensureTriplet(join(BENCH_DIR, name), spec, log);
      triplets[name] = t;
      log(t.generated ? `  generated in ${t.generateSeconds.toFixed(1)} s` : '  reusing the cached triplet');
      const runs: RunResult[] = [];
      let order = 0;
      log('  warm-up runs (not counted)');
      await warm(t.files);
      await runOnce('copy', t, 'warm', 0);
      await runOnce('merge', t, 'warm', 0);
      for (const cache of modes) {
        if (cache === 'warm') {
          log('  warming the page cache (reading the inputs once)');
          await warm(t.files);
        }
        for (let r = 0; r < reps; r++) {
          // ABBA: warm starts with copy, cold with merge, so neither kind always goes first.
          const first: Kind = (r % 2 === 0) === (cache === 'warm') ? 'copy' : 'merge';
          const second: Kind = first === 'copy' ? 'merge' : 'copy';
          runs.push(await runOnce(first, t, cache, ++order));
          runs.push(await runOnce(second, t, cache, ++order));
        }
      }
      const inputBytes = 3 * t.modelFileBytes;
      const byMode: Record<string, unknown> = {};
      for (const cache of modes) {
        const m = runs.filter((r) => r.cache === cache && r.kind === 'merge');
        const c = runs.filter((r) => r.cache === cache && r.kind === 'copy');
        const mergeS = median(m.map((r) => r.wallSeconds));
        const copyS = median(c.map((r) => r.wallSeconds));
        const outputBytes = m[0].outputBytes;
        byMode[cache] = {
          mergeWallSeconds: round(mergeS, 2),
          copyWallSeconds: round(copyS, 2),
          mergeRuns: m.map((r) => r.wallSeconds),
          copyRuns: c.map((r) => r.wallSeconds),
          mergeInsideSeconds: m.map((r) => r.selfSeconds),
          copyInsideSeconds: c.map((r) => r.selfSeconds),
          ratio: round(mergeS / copyS, 2),
          /** The same ratio from the children's own timings (no process startup; the CLI rounds to 0.1 s). */
          ratioInside: insideRatio(m, c),
          mergeOutputMBps: round(outputBytes / 1e6 / mergeS, 0),
          mergeTotalIoMBps: round((inputBytes + outputBytes) / 1e6 / mergeS, 0),
          copyOutputMBps: round(outputBytes / 1e6 / copyS, 0),
          mergePeakRssMB: Math.max(...m.map((r) => r.peakRssMB)),
          copyPeakRssMB: Math.max(...c.map((r) => r.peakRssMB)),
        };
        if (c[0].outputBytes !== outputBytes) log(`  warning: copy wrote ${c[0].outputBytes} bytes, merge ${outputBytes}`);
      }
      results.push({ size: name, spec, parameters: parameterCount(spec), modelBytes: t.modelFileBytes, inputBytes, outputBytes: runs.find((r) => r.kind === 'merge')!.outputBytes, results: byMode, runs });
    }

    let profile = null;
    if (!values['no-profile']) {
      const smallest = [...sizeNames].sort((a, b) => tensorBytes(SIZES[a]) - tensorBytes(SIZES[b]))[0];
      log(`\n== CPU profile of one merge (${smallest}, warm cache)`);
      await warm(triplets[smallest].files);
      profile = { size: smallest, ...(await profileMerge(triplets[smallest])) };
    }

    const report = { date: new Date().toISOString(), machine, reps, cacheModes: modes, chunkElements: Number(process.env.CHATVEC_CHUNK_ELEMENTS ?? 2 * 1024 * 1024), sizes: results, profile };
    await writeFile(join(ROOT, 'bench', 'results.json'), JSON.stringify(report, null, 2) + '\n');

    // The table
    const o = process.stdout;
    o.write(`\nmachine: ${machine.cpu}, ${machine.cores} cores, ${machine.totalMemGB} GiB RAM, ${machine.os}, node ${machine.node}\n`);
    o.write(`median of ${reps} runs each (after one untimed warm-up run of each), alternating order; wall time of the whole child process (startup, planning, fsync included);\n`);
    o.write(`"ratio inside" uses the children's own timings instead (no process startup); out MB/s = output bytes / merge wall s, in+out = all bytes read and written / merge wall s\n\n`);
    const head = ['size', 'model GB', 'cache', 'merge s', 'copy s', 'ratio', 'ratio inside', 'out MB/s', 'in+out MB/s', 'merge RSS MB', 'copy RSS MB'];
    const w = [6, 9, 6, 8, 7, 6, 13, 9, 12, 13, 12];
    o.write(head.map((h, i) => pad(h, w[i], i < 1)).join(' ') + '\n');
    for (const r of results) {
      for (const cache of modes) {
        const x = r.results[cache] as Record<string, number>;
        o.write([pad(r.size, w[0], true), pad((r.modelBytes / 1e9).toFixed(2), w[1]), pad(cache, w[2]), pad(x.mergeWallSeconds.toFixed(2), w[3]), pad(x.copyWallSeconds.toFixed(2), w[4]), pad(x.ratio.toFixed(2), w[5]), pad(x.ratioInside?.toFixed(2) ?? '-', w[6]), pad(x.mergeOutputMBps, w[7]), pad(x.mergeTotalIoMBps, w[8]), pad(x.mergePeakRssMB.toFixed(0), w[9]), pad(x.copyPeakRssMB.toFixed(0), w[10])].join(' ') + '\n');
      }
    }
    if (profile) {
      o.write(`\nCPU profile (main thread) of one merge of "${profile.size}": ${profile.totalMs} ms sampled, ${profile.wallSeconds} s wall; top self time:\n`);
      for (const row of profile.rows) o.write(`  ${pad(row.percent.toFixed(1), 5)}% ${pad(row.selfMs, 7)} ms  ${row.function}${row.where ? `  ${row.where}` : ''}\n`);
    }
    o.write(`\nwrote ${relative(process.cwd(), join(ROOT, 'bench', 'results.json'))}\n`);
  } finally {
    for (const d of ['out-merge', 'out-copy', 'out-profile', 'profile']) await rm(join(BENCH_DIR, d), { recursive: true, force: true });
    if (!values.keep) {
      await rm(BENCH_DIR, { recursive: true, force: true });
      log(`removed ${BENCH_DIR} (pass --keep to keep the triplets)`);
    }
  }
}

main().catch((e) => {
  process.stderr.write(`bench: ${(e as Error).stack ?? e}\n`);
  process.exit(1);
});
