/** Live α: the in-memory re-merge equals the engine's f32 output bit for bit, and the live model equals a merged folder. */
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it } from 'vitest';
import { writeTriplet } from '../scripts/fixtures.ts';
import { loadCheckpoint } from '../src/core/checkpoint.ts';
import { decodeToF32, type FloatDtype } from '../src/core/dtype.ts';
import { openInputs } from '../src/core/inputs.ts';
import { LiveWeights } from '../src/core/merge/live-weights.ts';
import { planMerge } from '../src/core/plan.ts';
import type { Recipe } from '../src/core/recipe.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { LiveModel } from '../src/model/live-model.ts';
import { openPreviewFolder } from '../src/model/session.ts';
import { mergeTo, recipeFor, tempDir, type Paths } from './helpers.ts';

const bitsOf = (a: Float32Array) => new Uint32Array(a.buffer, a.byteOffset, a.length);
/** Equal bits, except that any NaN equals any NaN (the engine writes the canonical quiet NaN). */
function expectSameBits(actual: Float32Array, expected: Float32Array, name: string) {
  expect(actual.length, name).toBe(expected.length);
  const a = bitsOf(actual), e = bitsOf(expected);
  for (let i = 0; i < a.length; i++) {
    if (a[i] !== e[i] && !(Number.isNaN(actual[i]) && Number.isNaN(expected[i]))) {
      throw new Error(`${name}[${i}]: live ${actual[i]} (0x${a[i].toString(16)}) ≠ engine ${expected[i]} (0x${e[i].toString(16)})`);
    }
  }
}

async function engineTensors(dir: string): Promise<Map<string, Float32Array>> {
  const ck = await loadCheckpoint(new NodeFileTree(dir));
  const out = new Map<string, Float32Array>();
  for (const [name, ref] of ck.tensors) {
    const n = ref.shape.reduce((a, b) => a * b, 1);
    const values = new Float32Array(n);
    decodeToF32(await ref.source.read(ref.offset, ref.byteLength, new Uint8Array(new ArrayBuffer(ref.byteLength))), ref.dtype as FloatDtype, values, n);
    out.set(name, values);
  }
  await ck.close();
  return out;
}

describe('LiveWeights', () => {
  let dir: string;
  let paths: Paths;
  beforeAll(async () => {
    dir = await tempDir('chatvec-live-');
    // Vocabulary expansion (overlap rows), NaN/±Inf planted in a norm, bf16 inputs.
    paths = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', cpExtraTokens: 7, specials: true, seed: 11 });
  });

  const cases: [string, Partial<Recipe>, Recipe['vectors'][0]['alpha'], Recipe['vectors'][0]['alpha']][] = [
    ['uniform α, vocabulary overlap', {}, 0.5, 1.3],
    ['gradient α, skipped norms, copied token rows', { skip: ['*norm*'], copyTokenRows: ['<|eot_id|>', '<|start_header_id|>'] }, [0, 1], [0.25, 2, -0.5]],
    ['vocabulary tensors kept from cp', { embeddings: 'skip' }, 0.7, -1],
  ];
  for (const [label, over, first, second] of cases) {
    it(`re-merges at a new α exactly as the engine writes f32: ${label}`, async () => {
      const recipes = [first, second].map((alpha) => recipeFor(paths, { ...over, dtype: 'f32' }, alpha));
      const inputs = await openInputs(recipes[0], (ref) => new NodeFileTree(ref));
      try {
        const live = await LiveWeights.load(planMerge(inputs, recipes[0]));
        for (const [i, recipe] of recipes.entries()) {
          const plan = planMerge(inputs, recipe);
          expect(live.matches(plan)).toBe(true);
          const out = join(dir, `${label}-${i}`.replace(/\W+/g, '-'));
          await mergeTo(recipe, out);
          const expected = await engineTensors(out);
          const alphas = LiveWeights.alphasOf(plan);
          for (const [name, values] of expected) {
            const got = new Float32Array(values.length).fill(12345);
            live.fill(name, alphas.get(name)!, got);
            expectSameBits(got, values, name);
          }
        }
      } finally {
        await inputs.close();
      }
    });
  }

  it('a plan that merges other rows does not match', async () => {
    const inputs = await openInputs(recipeFor(paths), (ref) => new NodeFileTree(ref));
    try {
      const live = await LiveWeights.load(planMerge(inputs, recipeFor(paths)));
      expect(live.matches(planMerge(inputs, recipeFor(paths, { embeddings: 'skip' })))).toBe(false);
      expect(live.matches(planMerge(inputs, recipeFor(paths, { skip: ['*norm*'] })))).toBe(false);
      expect(() => live.fill('no.such.tensor', [1], new Float32Array(1))).toThrow('the live merge has no such tensor');
    } finally {
      await inputs.close();
    }
  });
});

describe('LiveModel', () => {
  it('at each α, gives the logits of the merged folder at that α (wasm)', async () => {
    const dir = await tempDir('chatvec-livemodel-');
    const paths = await writeTriplet(join(dir, 'in'), { arch: 'qwen2', dtype: 'BF16', cpExtraTokens: 3, seed: 5, weightStd: 0.08 });
    const tree = (p: string) => new NodeFileTree(p);
    const live = await LiveModel.open({ cp: tree(paths.cp), base: tree(paths.base), chat: tree(paths.chat) }, { alpha: 0.25, ort, numThreads: 1 });
    try {
      expect(live.alpha).toBe(0.25);
      expect(live.folder.chatTemplate ?? live.folder.tokenizerConfig.chat_template).toBeTruthy();
      const ids = [1, 17, 42, 99, 250];
      for (const alpha of [0.25, 1, -0.5]) {
        if (alpha !== live.alpha) {
          const change = await live.setAlpha(alpha);
          expect(change.alpha).toBe(alpha);
          expect(change.remergeMs).toBeGreaterThan(0);
          expect(change.rebindMs).toBeGreaterThan(0);
        }
        const out = join(dir, `merged-${alpha}`);
        await mergeTo(recipeFor(paths, { dtype: 'f32' }, alpha), out);
        const folder = await openPreviewFolder(tree(out), { ort, numThreads: 1 });
        try {
          const a = await live.folder.model.forward(ids, live.folder.model.emptyCache());
          const b = await folder.model.forward(ids, folder.model.emptyCache());
          expect(Array.from(a.logits)).toEqual(Array.from(b.logits));
        } finally {
          await folder.model.release();
        }
      }
      await expect(live.setAlpha(Number.NaN)).rejects.toThrow('α must be a finite number');
      expect(live.alpha).toBe(-0.5);
    } finally {
      await live.close();
    }
  });
});
