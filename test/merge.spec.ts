import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeTriplet } from '../scripts/fixtures.ts';
import type { Recipe } from '../src/core/recipe.ts';
import { mergeTo, recipeFor, tempDir, type Paths } from './helpers.ts';
import { readModel, referenceMerge, encodeAll, values, type RefTensor } from './reference.ts';

const DT = { auto: null, bf16: 'BF16', f16: 'F16', f32: 'F32' } as const;

/** Every output tensor equals the reference computed from the input files. */
function checkAgainstReference(p: Paths, out: string, recipe: Recipe, alphaOf: (name: string) => number[] = () => [recipe.vectors[0].alpha as number]) {
  const base = readModel(p.base), chat = readModel(p.chat), cp = readModel(p.cp);
  const merged = readModel(out);
  expect([...merged.keys()].sort()).toEqual([...cp.keys()].sort());
  let mergedCount = 0;
  for (const [name, c] of cp) {
    const o = merged.get(name)!;
    const outDtype = DT[recipe.dtype] ?? c.dtype;
    expect(o.dtype, name).toBe(outDtype);
    expect(o.shape, name).toEqual(c.shape);
    const b = base.get(name)!, h = chat.get(name)!;
    const sameShape = b.shape.join() === c.shape.join() && h.shape.join() === c.shape.join();
    const cols = c.shape.slice(1).reduce((x, y) => x * y, 1);
    let n = 0;
    if (sameShape) n = c.bytes.length / (c.dtype === 'F32' ? 4 : 2);
    else if (recipe.embeddings === 'overlap') n = Math.min(b.shape[0], h.shape[0], c.shape[0]) * cols;
    if (recipe.skip.some((g) => new RegExp(`^${g.replace(/\./g, '\\.').replace(/\*/g, '.*')}$`).test(name))) n = 0;
    const alphas = alphaOf(name);
    const expected = n === 0 ? convertRef(c, outDtype) : referenceMerge(c, alphas.map((a) => ({ base: b, chat: h, alpha: a })), outDtype, n);
    if (n > 0) mergedCount++;
    expect(Buffer.from(o.bytes).equals(Buffer.from(expected)), `${name} differs from the reference`).toBe(true);
  }
  return mergedCount;
}

function convertRef(t: RefTensor, dtype: string): Uint8Array {
  return t.dtype === dtype ? t.bytes : encodeAll(values(t), dtype);
}

describe('merge is bit-exact against an independent f64 reference', () => {
  let dir: string;
  const triplets = new Map<string, Paths>();
  beforeAll(async () => {
    dir = await tempDir();
    for (const dtype of ['BF16', 'F16', 'F32'] as const) {
      triplets.set(dtype, await writeTriplet(join(dir, dtype), { arch: 'llama', dtype, layers: 2, cpExtraTokens: 8, specials: true, seed: 3 }));
    }
  });
  for (const inDtype of ['BF16', 'F16', 'F32'] as const) {
    for (const outDtype of ['auto', 'bf16', 'f16', 'f32'] as const) {
      for (const embeddings of ['overlap', 'skip'] as const) {
        it(`${inDtype} → ${outDtype}, embeddings ${embeddings}`, async () => {
          const p = triplets.get(inDtype)!;
          const out = join(dir, `out-${inDtype}-${outDtype}-${embeddings}`);
          const recipe = recipeFor(p, { dtype: outDtype, embeddings }, 0.7);
          const res = await mergeTo(recipe, out);
          expect(res.plan.counts.mergedRows).toBe(embeddings === 'overlap' ? 2 : 0);
          const merged = checkAgainstReference(p, out, recipe);
          expect(merged).toBe(res.plan.counts.merged + res.plan.counts.mergedRows);
        });
      }
    }
  }
});

describe('the SIMD kernels', () => {
  it('kernel-wasm.ts is compiled from the committed kernel.wat', async () => {
    const { compileKernels, kernelSource } = await import('../scripts/build-kernels.ts');
    expect(readFileSync(join(import.meta.dirname, '../src/core/merge/kernel-wasm.ts'), 'utf8')).toBe(kernelSource(await compileKernels()));
  });

  it('the plain JS path gives the same bytes as the SIMD path, for every dtype and two vectors', async () => {
    const dir = await tempDir();
    for (const dtype of ['BF16', 'F16', 'F32'] as const) {
      const p = await writeTriplet(join(dir, dtype), { arch: 'llama', dtype, layers: 2, cpExtraTokens: 8, specials: true, seed: 8 });
      for (const out of ['auto', 'bf16', 'f32'] as const) {
        const recipe: Recipe = { ...recipeFor(p, { dtype: out }), vectors: [{ base: p.base, chat: p.chat, alpha: 0.6 }, { base: p.base, chat: p.chat, alpha: -0.25 }] };
        await mergeTo(recipe, join(dir, `${dtype}-${out}-simd`), { simd: true });
        await mergeTo(recipe, join(dir, `${dtype}-${out}-js`), { simd: false });
        await mergeTo({ ...recipe, vectors: recipe.vectors.slice(0, 1) }, join(dir, `${dtype}-${out}-simd1`), { simd: true });
        await mergeTo({ ...recipe, vectors: recipe.vectors.slice(0, 1) }, join(dir, `${dtype}-${out}-js1`), { simd: false });
        for (const [a, b] of [['simd', 'js'], ['simd1', 'js1']]) {
          const x = readFileSync(join(dir, `${dtype}-${out}-${a}`, 'model.safetensors'));
          const y = readFileSync(join(dir, `${dtype}-${out}-${b}`, 'model.safetensors'));
          expect(x.equals(y), `${dtype} → ${out}, ${a} vs ${b}`).toBe(true);
        }
      }
    }
    const p = await writeTriplet(join(dir, 'js-ref'), { arch: 'llama', dtype: 'BF16', layers: 2, specials: true, seed: 8 });
    const recipe = recipeFor(p, {}, 0.6);
    await mergeTo(recipe, join(dir, 'js-ref-out'), { simd: false });
    checkAgainstReference(p, join(dir, 'js-ref-out'), recipe);
  });
});

describe('merge options', () => {
  let dir: string;
  let p: Paths;
  beforeAll(async () => {
    dir = await tempDir();
    p = await writeTriplet(join(dir, 'in'), { arch: 'qwen2', dtype: 'BF16', layers: 3, cpExtraTokens: 4, shards: 3, seed: 11 });
  });

  it('qwen2 layout with sharded inputs, α = −0.5', async () => {
    const recipe = recipeFor(p, {}, -0.5);
    await mergeTo(recipe, join(dir, 'q'));
    checkAgainstReference(p, join(dir, 'q'), recipe);
    expect(readModel(join(dir, 'q')).has('model.layers.0.self_attn.q_proj.bias')).toBe(true);
  });

  it('skip globs keep tensors from cp bit-exact', async () => {
    const recipe = recipeFor(p, { skip: ['*norm*'] }, 1);
    const res = await mergeTo(recipe, join(dir, 'skip'));
    checkAgainstReference(p, join(dir, 'skip'), recipe);
    const cp = readModel(p.cp), out = readModel(join(dir, 'skip'));
    expect(Buffer.from(out.get('model.norm.weight')!.bytes).equals(Buffer.from(cp.get('model.norm.weight')!.bytes))).toBe(true);
    expect(res.plan.entries.find((e) => e.name === 'model.norm.weight')!.reason).toBe('skip pattern *norm*');
  });

  it('gradient α and per-module filters follow mergekit semantics', async () => {
    const alpha = [{ filter: 'self_attn', value: [0, 1] }, { value: 0.5 }];
    const recipe = recipeFor(p, {}, alpha);
    await mergeTo(recipe, join(dir, 'grad'));
    // 3 layers: t = 0, 0.5, 1 for layers 0, 1, 2; attention gets 0, 0.5, 1; everything else 0.5.
    checkAgainstReference(p, join(dir, 'grad'), recipe, (name) => {
      const m = /layers\.(\d+)\.self_attn/.exec(name);
      return [m ? Number(m[1]) / 2 : 0.5];
    });
  });

  it('two chat vectors add in order, each rounded to f32', async () => {
    const recipe: Recipe = { ...recipeFor(p), vectors: [{ base: p.base, chat: p.chat, alpha: 0.3 }, { base: p.base, chat: p.chat, alpha: 0.45 }] };
    await mergeTo(recipe, join(dir, 'two'));
    checkAgainstReference(p, join(dir, 'two'), recipe, () => [0.3, 0.45]);
  });

  it('small shard size gives several shards and an index naming every tensor', async () => {
    const recipe = recipeFor(p, { shardSize: 40_000 }, 1);
    const res = await mergeTo(recipe, join(dir, 'sharded'));
    const index = JSON.parse(readFileSync(join(dir, 'sharded', 'model.safetensors.index.json'), 'utf8'));
    const shardFiles = [...new Set(Object.values(index.weight_map))].sort();
    expect(shardFiles.length).toBeGreaterThan(3);
    expect(shardFiles[0]).toBe(`model-00001-of-${String(shardFiles.length).padStart(5, '0')}.safetensors`);
    expect(index.metadata.total_size).toBe(res.plan.totalOutputBytes);
    checkAgainstReference(p, join(dir, 'sharded'), recipe);
    for (const f of shardFiles as string[]) {
      const buf = readFileSync(join(dir, 'sharded', f));
      const n = Number(buf.readBigUInt64LE(0));
      expect(JSON.parse(buf.subarray(8, 8 + n).toString()).__metadata__).toEqual({ format: 'pt' });
      expect(n % 8).toBe(0);
    }
  });
});
