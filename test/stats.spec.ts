import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTriplet, writeModel, writeTriplet, type FixtureTensor } from '../scripts/fixtures.ts';
import { moduleType } from '../src/core/arch.ts';
import { decodeToF32, dtypeSize, type FloatDtype } from '../src/core/dtype.ts';
import { CancelledError, ChatvecError } from '../src/core/errors.ts';
import { openInputs } from '../src/core/inputs.ts';
import { planMerge } from '../src/core/plan.ts';
import type { Recipe } from '../src/core/recipe.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { computeChatVectorStats, type ChatVectorStatsParams } from '../src/core/stats/compute-chat-vector-stats.ts';
import { createStatsCollector } from '../src/core/stats/create-stats-collector.ts';
import { CpuStatsAccumulator, type StatsAccumulator } from '../src/core/stats/stats-accumulator.ts';
import type { ChatVectorStats, StatsMetrics } from '../src/core/stats/stats-report.ts';
import { statsTargets } from '../src/core/stats/stats-targets.ts';
import { recipeFor, tempDir, type Paths } from './helpers.ts';
import { readModel, values } from './reference.ts';

// ---------------------------------------------------------------------------------------------
// The reference: exact integer arithmetic on the decoded values (every f32 value is k·2^-149).

const SCALE = 2 ** 149;
const SCALE_SQ = 2 ** 298;

interface ExactSums {
  elements: number;
  nonFinite: number;
  tauSq: bigint;
  cpDeltaSq: bigint;
  cpSq: bigint;
  dot: bigint;
  sameSign: number;
  bothNonzero: number;
}

const zero = (): ExactSums => ({ elements: 0, nonFinite: 0, tauSq: 0n, cpDeltaSq: 0n, cpSq: 0n, dot: 0n, sameSign: 0, bothNonzero: 0 });

function addExact(into: ExactSums, s: ExactSums): void {
  into.elements += s.elements;
  into.nonFinite += s.nonFinite;
  into.tauSq += s.tauSq;
  into.cpDeltaSq += s.cpDeltaSq;
  into.cpSq += s.cpSq;
  into.dot += s.dot;
  into.sameSign += s.sameSign;
  into.bothNonzero += s.bothNonzero;
}

/** Exact sums over the first n elements (the rows all three share). */
function exactSums(base: number[], chat: number[], cp: number[], n: number): ExactSums {
  const s = zero();
  s.elements = n;
  for (let i = 0; i < n; i++) {
    if (![base[i], chat[i], cp[i]].every(Number.isFinite)) {
      s.nonFinite++;
      continue;
    }
    const b = BigInt(base[i] * SCALE), c = BigInt(chat[i] * SCALE), p = BigInt(cp[i] * SCALE);
    const t = c - b, d = p - b;
    s.tauSq += t * t;
    s.cpDeltaSq += d * d;
    s.cpSq += p * p;
    s.dot += t * d;
    if (t !== 0n && d !== 0n) {
      s.bothNonzero++;
      if (t > 0n === d > 0n) s.sameSign++;
    }
  }
  return s;
}

/** Exact sums per tensor present in all three models (shared rows for different row counts). */
function referenceTensors(p: Paths): Map<string, ExactSums> {
  const base = readModel(p.base), chat = readModel(p.chat), cp = readModel(p.cp);
  const out = new Map<string, ExactSums>();
  for (const [name, c] of cp) {
    const b = base.get(name), h = chat.get(name);
    if (!b || !h || !['F32', 'F16', 'BF16'].includes(c.dtype)) continue;
    const cols = c.shape.slice(1).reduce((x, y) => x * y, 1);
    const n = Math.min(b.shape[0], h.shape[0], c.shape[0]) * cols;
    out.set(name, exactSums(values(b), values(h), values(c), n));
  }
  return out;
}

function expectClose(actual: number | null, expected: number | null, what: string, rel = 1e-12) {
  if (expected === null) return expect(actual, what).toBeNull();
  expect(actual, what).not.toBeNull();
  const err = expected === 0 ? Math.abs(actual!) : Math.abs(actual! - expected) / Math.abs(expected);
  expect(err, `${what}: ${actual} vs ${expected}`).toBeLessThanOrEqual(rel);
}

/** Compare metrics with the exact sums: norms and cosine to 1e-12 relative, counts exactly. */
function expectMatches(m: StatsMetrics, s: ExactSums, what: string) {
  const tau = Math.sqrt(Number(s.tauSq) / SCALE_SQ), d = Math.sqrt(Number(s.cpDeltaSq) / SCALE_SQ), cp = Math.sqrt(Number(s.cpSq) / SCALE_SQ);
  expect({ elements: m.elements, nonFinite: m.nonFinite, sameSign: m.sameSign, bothNonzero: m.bothNonzero }, what).toEqual({ elements: s.elements, nonFinite: s.nonFinite, sameSign: s.sameSign, bothNonzero: s.bothNonzero });
  expectClose(m.tauNorm, tau, `${what} tauNorm`);
  expectClose(m.cpDeltaNorm, d, `${what} cpDeltaNorm`);
  expectClose(m.cpNorm, cp, `${what} cpNorm`);
  expectClose(m.relMagnitude, cp > 0 ? tau / cp : null, `${what} relMagnitude`);
  expectClose(m.cosine, tau > 0 && d > 0 ? Number(s.dot) / SCALE_SQ / (tau * d) : null, `${what} cosine`);
  expect(m.signAgreement, `${what} signAgreement`).toBe(s.bothNonzero ? s.sameSign / s.bothNonzero : null);
}

/** Every tensor, layer, module, matrix cell and the total against the exact reference. */
function checkReport(stats: ChatVectorStats, ref: Map<string, ExactSums>) {
  expect(stats.tensors.map((t) => t.name).sort()).toEqual([...ref.keys()].sort());
  const groups = new Map<string, ExactSums>();
  const into = (key: string, s: ExactSums) => {
    if (!groups.has(key)) groups.set(key, zero());
    addExact(groups.get(key)!, s);
  };
  for (const t of stats.tensors) {
    const s = ref.get(t.name)!;
    expectMatches(t, s, t.name);
    const layer = /\.layers\.(\d+)\./.exec(t.name)?.[1];
    into('total', s);
    into(`module ${moduleType(t.name)}`, s);
    if (layer !== undefined) {
      into(`layer ${layer}`, s);
      into(`cell ${layer} ${moduleType(t.name)}`, s);
    }
  }
  expectMatches(stats.total, groups.get('total')!, 'total');
  expect(stats.layers.map((l) => `layer ${l.layer}`)).toEqual([...groups.keys()].filter((k) => k.startsWith('layer ')).sort());
  for (const l of stats.layers) expectMatches(l, groups.get(`layer ${l.layer}`)!, `layer ${l.layer}`);
  expect(stats.modules.map((m) => `module ${m.module}`).sort()).toEqual([...groups.keys()].filter((k) => k.startsWith('module ')).sort());
  for (const m of stats.modules) expectMatches(m, groups.get(`module ${m.module}`)!, `module ${m.module}`);
  expect(stats.matrix.layers).toEqual(stats.layers.map((l) => l.layer));
  stats.matrix.layers.forEach((l, i) =>
    stats.matrix.modules.forEach((m, j) => {
      const s = groups.get(`cell ${l} ${m}`);
      if (!s) return expect(stats.matrix.cosine[i][j]).toBeNull();
      const tau = Math.sqrt(Number(s.tauSq) / SCALE_SQ), d = Math.sqrt(Number(s.cpDeltaSq) / SCALE_SQ);
      expectClose(stats.matrix.cosine[i][j], Number(s.dot) / SCALE_SQ / (tau * d), `cell ${l} ${m}`);
    }),
  );
}

async function statsOf(p: Paths, over: Partial<ChatVectorStatsParams> & { recipe?: Recipe } = {}) {
  const recipe = over.recipe ?? recipeFor(p);
  const inputs = await openInputs(recipe, (ref) => new NodeFileTree(ref));
  try {
    return await computeChatVectorStats({ inputs, recipe, ...over });
  } finally {
    await inputs.close();
  }
}

// ---------------------------------------------------------------------------------------------

describe('chat vector statistics against an exact reference', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir('chatvec-stats-');
  });

  for (const [dtype, arch] of [['BF16', 'llama'], ['F16', 'qwen2'], ['F32', 'llama']] as const) {
    it(`${dtype} ${arch}, expanded vocabulary, NaN/Inf, 2 shards`, async () => {
      const p = await writeTriplet(join(dir, dtype), { arch, dtype, layers: 3, cpExtraTokens: 8, specials: true, shards: 2, seed: 11 });
      const ref = referenceTensors(p);
      const stats = await statsOf(p);
      checkReport(stats, ref);
      const embed = stats.tensors.find((t) => t.name === 'model.embed_tokens.weight')!;
      expect(embed).toMatchObject({ sharedRows: 300, elements: 300 * 64, action: 'merge' });
      const norm = stats.tensors.find((t) => t.name === 'model.norm.weight')!;
      expect(norm.nonFinite).toBe(5); // chat NaN, cp NaN, chat +Inf, cp −Inf, both
      expect(stats.total.nonFinite).toBe(5);
      expect(stats.notCompared).toEqual([]);
      expect(stats.matrix.modules).toEqual(['q', 'k', 'v', 'o', 'gate', 'up', 'down', 'norm']);
      // Chunking changes nothing, to the bit: the compensated sum runs element by element.
      const tiny = await statsOf(p, { chunkElements: 7 });
      const mid = await statsOf(p, { chunkElements: 1000 });
      expect(tiny).toEqual(stats);
      expect(mid).toEqual(stats);
    });
  }

  it('zeros: τ = 0, cp = base, partly equal elements; skipped and copied tensors are still measured; what cannot be compared is listed', async () => {
    const t = buildTriplet({ arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 8, seed: 3 });
    const tensor = (m: { tensors: FixtureTensor[] }, name: string) => m.tensors.find((x) => x.name === name)!;
    const copyData = (from: FixtureTensor, to: FixtureTensor) => (to.data = new Float32Array(from.data as Float32Array));
    copyData(tensor(t.base, 'model.layers.0.input_layernorm.weight'), tensor(t.chat, 'model.layers.0.input_layernorm.weight'));
    copyData(tensor(t.base, 'model.layers.1.input_layernorm.weight'), tensor(t.cp, 'model.layers.1.input_layernorm.weight'));
    const q = 'model.layers.0.self_attn.q_proj.weight';
    const half = tensor(t.chat, q).data as Float32Array;
    half.set((tensor(t.base, q).data as Float32Array).subarray(0, half.length / 2));
    // Not comparable: missing in chat, only in base/chat, a non-float tensor, a shape that differs outside the vocabulary.
    t.chat.tensors = t.chat.tensors.filter((x) => x.name !== 'model.layers.1.mlp.up_proj.weight');
    for (const m of [t.base, t.chat]) m.tensors.push({ name: 'extra.weight', dtype: 'BF16', shape: [2], data: Float32Array.of(1, 2) });
    for (const m of [t.base, t.chat, t.cp]) m.tensors.push({ name: 'model.mask', dtype: 'U8', shape: [4], data: Uint8Array.of(1, 0, 1, 0) });
    tensor(t.cp, 'model.layers.1.mlp.down_proj.weight').shape = [32, 256];
    const p = { base: join(dir, 'z', 'base'), chat: join(dir, 'z', 'chat'), cp: join(dir, 'z', 'cp') };
    await writeModel(p.base, t.base);
    await writeModel(p.chat, t.chat);
    await writeModel(p.cp, t.cp);

    const recipe = recipeFor(p, { skip: ['*norm*'], embeddings: 'skip' });
    const stats = await statsOf(p, { recipe });
    const ref = referenceTensors(p);
    ref.delete('model.layers.1.mlp.down_proj.weight'); // the reference only measures; the shape rule is the plan's
    checkReport(stats, ref);
    const byName = new Map(stats.tensors.map((x) => [x.name, x]));
    expect(byName.get('model.layers.0.input_layernorm.weight')).toMatchObject({ action: 'copy', reason: 'skip pattern *norm*', tauNorm: 0, relMagnitude: 0, cosine: null, signAgreement: null, bothNonzero: 0 });
    expect(byName.get('model.layers.1.input_layernorm.weight')).toMatchObject({ cpDeltaNorm: 0, cosine: null, signAgreement: null, bothNonzero: 0 });
    expect(byName.get('model.embed_tokens.weight')).toMatchObject({ action: 'copy', reason: 'vocabulary differs: kept from cp (embeddings policy skip)', sharedRows: 300 });
    const qs = byName.get(q)!;
    expect(qs.bothNonzero).toBeLessThanOrEqual(qs.elements / 2);
    expect(stats.notCompared).toEqual([
      { name: 'model.layers.1.mlp.up_proj.weight', reason: 'not in chat' },
      { name: 'model.layers.1.mlp.down_proj.weight', reason: 'shapes differ: cp [32, 256], base [64, 128], chat [64, 128]' },
      { name: 'model.mask', reason: 'not a float tensor (cp U8, base U8, chat U8)' },
      { name: 'extra.weight', reason: 'not in cp' },
    ]);
  });

  describe('chat = base + k·(cp − base)', () => {
    let p: Paths & { chatNeg: string };
    beforeAll(async () => {
      // Multiples of 2^-10 below 2^14: every value and every difference is exact in f32.
      const t = buildTriplet({ arch: 'llama', dtype: 'F32', layers: 2, seed: 9 });
      const chatNeg = structuredClone(t.chat);
      t.base.tensors.forEach((b, ti) => {
        const n = (b.data as Float32Array).length;
        const base = new Float32Array(n), cp = new Float32Array(n), chat = new Float32Array(n), neg = new Float32Array(n);
        for (let j = 0; j < n; j++) {
          base[j] = (((j * 7919 + ti * 104729) % 2001) - 1000) / 1024;
          const d = (((j * 31 + ti * 17) % 101) - 50) / 1024; // 0 once in 101
          cp[j] = base[j] + d;
          chat[j] = base[j] + 3 * d;
          neg[j] = base[j] - 0.5 * d;
        }
        b.data = base;
        t.cp.tensors[ti].data = cp;
        t.chat.tensors[ti].data = chat;
        chatNeg.tensors[ti].data = neg;
      });
      p = { base: join(dir, 'k', 'base'), chat: join(dir, 'k', 'chat'), cp: join(dir, 'k', 'cp'), chatNeg: join(dir, 'k', 'chat-neg') };
      await writeModel(p.base, t.base);
      await writeModel(p.chat, t.chat);
      await writeModel(p.cp, t.cp);
      await writeModel(p.chatNeg, chatNeg);
    });

    it('k = 3: cosine 1, relMagnitude = 3·‖cp − base‖/‖cp‖, every sign agrees', async () => {
      const stats = await statsOf(p);
      checkReport(stats, referenceTensors(p));
      for (const x of [...stats.tensors, ...stats.layers, ...stats.modules, stats.total]) {
        expectClose(x.cosine, 1, 'cosine');
        expectClose(x.relMagnitude, (3 * x.cpDeltaNorm) / x.cpNorm, 'relMagnitude');
        expect(x.signAgreement).toBe(1);
      }
      expect(stats.total.bothNonzero).toBeLessThan(stats.total.elements); // the zeros of d are left out
      for (const row of stats.matrix.cosine) for (const c of row) expectClose(c, 1, 'matrix');
    });

    it('k = −0.5: cosine −1, relMagnitude = 0.5·‖cp − base‖/‖cp‖, no sign agrees', async () => {
      const stats = await statsOf({ ...p, chat: p.chatNeg });
      for (const x of [...stats.tensors, stats.total]) {
        expectClose(x.cosine, -1, 'cosine');
        expectClose(x.relMagnitude, (0.5 * x.cpDeltaNorm) / x.cpNorm, 'relMagnitude');
        expect(x.signAgreement).toBe(0);
      }
    });

    it('vector picks the chat vector: τ₂ = cp − base has cosine 1 with itself', async () => {
      const recipe: Recipe = { ...recipeFor(p), vectors: [{ base: p.base, chat: p.chat, alpha: 1 }, { base: p.base, chat: p.cp, alpha: 1 }] };
      const stats = await statsOf(p, { recipe, vector: 1 });
      expect(stats.vector).toBe(1);
      for (const x of stats.tensors) {
        expectClose(x.cosine, 1, x.name);
        expect(x.tauNorm).toBe(x.cpDeltaNorm);
      }
      await expect(statsOf(p, { recipe, vector: 2 })).rejects.toThrow(new ChatvecError('no such chat vector', { code: 'bad-vector', expected: '0 to 1', found: '2' }).message);
    });
  });

  describe('streaming', () => {
    let p: Paths;
    beforeAll(async () => {
      p = await writeTriplet(join(dir, 's'), { arch: 'qwen2', dtype: 'BF16', layers: 2, cpExtraTokens: 4, specials: true, seed: 2 });
    });

    it('a plugged-in asynchronous accumulator sees bounded chunks and gives the same report', async () => {
      const cpu = new CpuStatsAccumulator();
      const seen: number[] = [];
      const accumulator: StatsAccumulator = {
        async add(base, chat, cp, count) {
          seen.push(count);
          await new Promise((r) => setTimeout(r, 0));
          cpu.add(base, chat, cp, count);
        },
        take: async () => cpu.take(),
      };
      const stats = await statsOf(p, { accumulator, chunkElements: 500 });
      expect(Math.max(...seen)).toBe(500);
      expect(stats).toEqual(await statsOf(p));
    });

    it('the collector fed with the chunks of another pass gives the same numbers to the bit', async () => {
      const recipe = recipeFor(p);
      const inputs = await openInputs(recipe, (ref) => new NodeFileTree(ref));
      try {
        const targets = statsTargets(inputs, planMerge(inputs, recipe), 0);
        const collector = createStatsCollector(targets);
        const chunk = 777;
        const f32 = (t: (typeof targets.compared)[0]['cp'], start: number, count: number) =>
          (count ? t.source.read(t.offset + start * dtypeSize(t.dtype), count * dtypeSize(t.dtype)) : Promise.resolve(new Uint8Array(0))).then((bytes) => {
            const out = new Float32Array(count);
            decodeToF32(new Uint8Array(bytes), t.dtype as FloatDtype, out, count);
            return out;
          });
        for (const t of targets.compared) {
          // The merge walks cp's whole tensor; the collector ignores cp's extra vocabulary rows.
          const total = t.cp.shape.reduce((a, b) => a * b, 1);
          for (let start = 0; start < total; start += chunk) {
            const count = Math.min(chunk, total - start);
            const n = Math.min(count, Math.max(0, t.elements - start));
            const [b, c, cp] = await Promise.all([f32(t.base, start, n), f32(t.chat, start, n), f32(t.cp, start, count)]);
            collector.add(t.name, start, b, c, cp, count);
          }
        }
        expect(collector.result()).toEqual(await computeChatVectorStats({ inputs, recipe }));
      } finally {
        await inputs.close();
      }
    });

    it('cancel through the AbortSignal', async () => {
      const abort = new AbortController();
      await expect(statsOf(p, { chunkElements: 64, signal: abort.signal, onProgress: () => abort.abort() })).rejects.toBeInstanceOf(CancelledError);
    });

    it('progress counts the bytes of base, chat and cp', async () => {
      const last: { bytesDone: number; bytesTotal: number }[] = [];
      const stats = await statsOf(p, { onProgress: (x) => last.push(x) });
      expect(last.at(-1)!.bytesDone).toBe(3 * 2 * stats.total.elements);
      expect(last.at(-1)!.bytesTotal).toBe(3 * 2 * stats.total.elements);
    });
  });
});

// ---------------------------------------------------------------------------------------------

const MAIN = join(import.meta.dirname, '..', 'src', 'cli', 'main.ts');
function chatvec(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: join(import.meta.dirname, '..'), encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

describe('chatvec stats', () => {
  let p: Paths;
  let flags: string[];
  beforeAll(async () => {
    p = await writeTriplet(join(await tempDir('chatvec-stats-cli-'), 'in'), { arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 8, specials: true, seed: 5 });
    flags = ['--base', p.base, '--chat', p.chat, '--cp', p.cp];
  });

  it('--json: tensors, layers, modules and matrix, the same numbers as the API', async () => {
    const r = chatvec(['stats', ...flags, '--json', '--skip', '*norm*']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
    const j = JSON.parse(r.stdout);
    expect(Object.keys(j)).toEqual(expect.arrayContaining(['tensors', 'layers', 'modules', 'matrix']));
    expect(Object.keys(j.tensors[0])).toEqual(expect.arrayContaining(['name', 'tauNorm', 'cpDeltaNorm', 'cpNorm', 'relMagnitude', 'cosine', 'signAgreement', 'nonFinite']));
    expect(j.tensors.find((t: { name: string }) => t.name === 'model.norm.weight')).toMatchObject({ action: 'copy', nonFinite: 5 });
    expect(j).toEqual(JSON.parse(JSON.stringify(await statsOf(p, { recipe: recipeFor(p, { skip: ['*norm*'] }) }))));
    expect(Object.keys(j.matrix)).toEqual(['layers', 'modules', 'cosine']);
    expect(j.matrix.cosine).toHaveLength(2);
  });

  it('--csv: a header line, then one row per tensor', () => {
    const r = chatvec(['stats', ...flags, '--csv']);
    expect(r.code, r.stderr).toBe(0);
    const lines = r.stdout.trimEnd().split('\n');
    expect(lines[0]).toBe('name,layer,module,action,elements,sharedRows,tauNorm,cpDeltaNorm,cpNorm,relMagnitude,cosine,signAgreement,sameSign,bothNonzero,nonFinite');
    const j = JSON.parse(chatvec(['stats', ...flags, '--json']).stdout);
    expect(lines).toHaveLength(1 + j.tensors.length);
    const embed = lines.find((l) => l.startsWith('model.embed_tokens.weight,'))!.split(',');
    const t = j.tensors[0];
    expect(embed).toEqual([t.name, '', 'embedding', 'merge', '19200', '300', String(t.tauNorm), String(t.cpDeltaNorm), String(t.cpNorm), String(t.relMagnitude), String(t.cosine), String(t.signAgreement), String(t.sameSign), String(t.bothNonzero), '0']);
  });

  it('the table: per layer, per module, top tensors by relative magnitude', () => {
    const r = chatvec(['stats', ...flags]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^chat vector 1: τ = chat − base against cp − base over [\d,]+ elements of 21 tensors\n/);
    expect(r.stdout).toMatch(/\nlayer +tensors +‖τ‖ +‖τ‖\/‖cp‖ +cosine +sign\n0 +9 /);
    expect(r.stdout).toContain('\ntop 10 tensors by ‖τ‖/‖cp‖\n');
    expect(r.stdout).toContain('\n5 element(s) with NaN or ±Inf in base, chat or cp are left out\n');
  });

  it('exit 2 on usage errors, 1 on failures', () => {
    expect(chatvec(['stats', ...flags, '--json', '--csv'])).toMatchObject({ code: 2, stderr: expect.stringContaining('chatvec: give --json or --csv, not both') });
    expect(chatvec(['stats', '--base', p.base, '--chat', p.chat])).toMatchObject({ code: 2, stderr: expect.stringContaining('chatvec: --cp is required') });
    expect(chatvec(['stats', ...flags, '--embeddings', 'all'])).toMatchObject({ code: 2, stderr: expect.stringContaining('--embeddings must be overlap or skip, not "all"') });
    const missing = join(p.cp, 'nope');
    expect(chatvec(['stats', '--base', p.base, '--chat', p.chat, '--cp', missing])).toMatchObject({ code: 1, stderr: `chatvec: error: ${missing}: no such folder\n` });
  });
});
