/**
 * The ONNX graph against the plain f64 reference forward pass, for every supported family,
 * at prefill and over 8 cached decode steps.
 */
import * as ort from 'onnxruntime-web';
import { describe, expect, it } from 'vitest';
import { buildTriplet, roundToDtype, type TripletOptions } from '../scripts/fixtures.ts';
import { buildDecoderGraph } from '../src/model/graph/decoder-graph.ts';
import { decoderSpecFromConfig, type DecoderSpec } from '../src/model/graph/decoder-spec.ts';
import { packExternalData } from '../src/model/graph/external-data.ts';
import { argmax, ReferenceDecoder } from '../src/model/reference-forward.ts';
import { PreviewModel } from '../src/model/session.ts';

ort.env.wasm.numThreads = 1;

const TOLERANCE = 1e-4;
const PROMPT = [5, 77, 121, 9, 260, 33, 150];
const DECODE_STEPS = 8;

const COMMON: Omit<TripletOptions, 'arch'> = { dtype: 'F32', hiddenSize: 64, layers: 2, heads: 4, kvHeads: 2, intermediate: 96, vocab: 300, seed: 11, weightStd: 0.1 };
const LLAMA3_SCALING = { rope_type: 'llama3', factor: 4, low_freq_factor: 1, high_freq_factor: 4, original_max_position_embeddings: 16 };

const VARIANTS: Record<string, TripletOptions> = {
  llama: { ...COMMON, arch: 'llama' },
  'llama3 rope scaling': { ...COMMON, arch: 'llama', ropeScaling: LLAMA3_SCALING },
  'mistral (sliding window 5)': { ...COMMON, arch: 'mistral', slidingWindow: 5 },
  qwen2: { ...COMMON, arch: 'qwen2' },
  'qwen3 (head_dim 32 ≠ hidden/heads)': { ...COMMON, arch: 'qwen3', headDim: 32 },
  'tied embeddings, 4 heads on 1 kv head': { ...COMMON, arch: 'llama', tiedEmbeddings: true, kvHeads: 1 },
};

function fixture(opts: TripletOptions): { spec: DecoderSpec; weights: Map<string, Float32Array>; config: Record<string, unknown> } {
  const model = buildTriplet(opts).chat;
  const weights = new Map(model.tensors.map((t) => [t.name, t.data as Float32Array]));
  return { spec: decoderSpecFromConfig(model.config), weights, config: model.config! };
}

function maxAbsDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  expect(a.length).toBe(b.length);
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i] - b[i]));
  return m;
}

function maxAbs(a: ArrayLike<number>): number {
  let m = 0;
  for (let i = 0; i < a.length; i++) m = Math.max(m, Math.abs(a[i]));
  return m;
}

const ids64 = (ids: number[]) => BigInt64Array.from(ids, BigInt);

/** A session over the graph that returns every position's logits. */
async function allLogitsSession(spec: DecoderSpec, weights: Map<string, Float32Array>, weightDtype: 'f32' | 'f16' = 'f32') {
  const graph = buildDecoderGraph(spec, { logits: 'all', weightDtype });
  const session = await ort.InferenceSession.create(graph.modelBytes, { externalData: await packExternalData(graph, weights), executionProviders: ['wasm'] });
  const kvType = graph.kvType;
  const empty = () => (kvType === 'float16' ? new ort.Tensor('float16', new Uint16Array(0), [1, spec.numKvHeads, 0, spec.headDim]) : new ort.Tensor('float32', new Float32Array(0), [1, spec.numKvHeads, 0, spec.headDim]));
  let past: ort.Tensor[] = Array.from({ length: 2 * spec.numLayers }, empty);
  let length = 0;
  return {
    /** Logits rows [seq][vocab] for `ids` after what ran before. */
    async run(ids: number[]): Promise<Float32Array[]> {
      const total = length + ids.length;
      const feeds: Record<string, ort.Tensor> = {
        input_ids: new ort.Tensor('int64', ids64(ids), [1, ids.length]),
        attention_mask: new ort.Tensor('int64', new BigInt64Array(total).fill(1n), [1, total]),
        position_ids: new ort.Tensor('int64', ids64(ids.map((_, i) => length + i)), [1, ids.length]),
      };
      for (let l = 0; l < spec.numLayers; l++) {
        feeds[`past_key_values.${l}.key`] = past[2 * l];
        feeds[`past_key_values.${l}.value`] = past[2 * l + 1];
      }
      const out = await session.run(feeds);
      expect(out.logits.dims).toEqual([1, ids.length, spec.vocabSize]);
      expect(out['present.0.key'].dims).toEqual([1, spec.numKvHeads, total, spec.headDim]);
      past = Array.from({ length: spec.numLayers }, (_, l) => [out[`present.${l}.key`], out[`present.${l}.value`]]).flat();
      length = total;
      const data = out.logits.data as Float32Array;
      return ids.map((_, i) => data.slice(i * spec.vocabSize, (i + 1) * spec.vocabSize));
    },
    session,
    graph,
  };
}

describe('ONNX decoder graph = reference forward pass', () => {
  for (const [name, opts] of Object.entries(VARIANTS)) {
    it(`${name}: prefill and ${DECODE_STEPS} cached decode steps, all-positions and last-position graphs`, async () => {
      const { spec, weights, config } = fixture(opts);
      const reference = new ReferenceDecoder(spec, weights);
      const cache = reference.newCache();
      const full = await allLogitsSession(spec, weights);
      const preview = await PreviewModel.create({ config, weights, numThreads: 1 });
      let previewCache = preview.emptyCache();

      const diffs: number[] = [];
      const expected = reference.forward(PROMPT, cache);
      const got = await full.run(PROMPT);
      expected.forEach((row, i) => diffs.push(maxAbsDiff(got[i], row)));
      let step = await preview.forward(PROMPT, previewCache);
      diffs.push(maxAbsDiff(step.logits, expected.at(-1)!));
      previewCache = step.cache;
      // Logits of order 1, so a tolerance of 1e-4 is tight.
      expect(maxAbs(expected.at(-1)!)).toBeGreaterThan(0.5);

      let next = argmax(expected.at(-1)!);
      for (let s = 0; s < DECODE_STEPS; s++) {
        const want = reference.forward([next], cache)[0];
        diffs.push(maxAbsDiff((await full.run([next]))[0], want));
        step = await preview.forward([next], previewCache);
        previewCache = step.cache;
        diffs.push(maxAbsDiff(step.logits, want));
        next = argmax(want);
      }
      expect(previewCache.length).toBe(PROMPT.length + DECODE_STEPS);
      expect(Math.max(...diffs)).toBeLessThanOrEqual(TOLERANCE);
      console.log(`${name}: max |Δlogit| ${Math.max(...diffs).toExponential(2)} over ${diffs.length} comparisons (${full.graph.nodeCount} nodes)`);
      await preview.release();
      await full.session.release();
    });
  }

  it('the tolerance catches a wrong rotation, a missing rope scaling or a missing sliding window', async () => {
    const scaled = fixture(VARIANTS['llama3 rope scaling']);
    const run = await allLogitsSession(scaled.spec, scaled.weights);
    const got = await run.run(PROMPT);
    const unscaled = new ReferenceDecoder({ ...scaled.spec, rope: { ...scaled.spec.rope, scaling: { type: 'default' } } }, scaled.weights).forward(PROMPT);
    // Rotary attention depends on relative positions only, so stretch them (a shift would change nothing).
    const stretched = new ReferenceDecoder(scaled.spec, scaled.weights).forward(PROMPT, undefined, PROMPT.map((_, i) => 2 * i));
    expect(maxAbsDiff(got.at(-1)!, unscaled.at(-1)!)).toBeGreaterThan(100 * TOLERANCE);
    expect(maxAbsDiff(got.at(-1)!, stretched.at(-1)!)).toBeGreaterThan(100 * TOLERANCE);

    const windowed = fixture(VARIANTS['mistral (sliding window 5)']);
    const gotWindowed = await (await allLogitsSession(windowed.spec, windowed.weights)).run(PROMPT);
    const unwindowed = new ReferenceDecoder({ ...windowed.spec, slidingWindow: null }, windowed.weights).forward(PROMPT);
    expect(maxAbsDiff(gotWindowed.at(-1)!, unwindowed.at(-1)!)).toBeGreaterThan(100 * TOLERANCE);
  });

  it('left-padded batch of 2: each row equals its unpadded reference, at prefill and one decode step', async () => {
    const { spec, weights } = fixture(VARIANTS.qwen2);
    const graph = buildDecoderGraph(spec, { logits: 'all' });
    const session = await ort.InferenceSession.create(graph.modelBytes, { externalData: await packExternalData(graph, weights) });
    const short = PROMPT.slice(0, 4);
    const pad = PROMPT.length - short.length;
    const mask = [...Array(pad).fill(0), ...short.map(() => 1), ...PROMPT.map(() => 1)];
    const positions = [...Array(pad).fill(1), 0, 1, 2, 3, ...PROMPT.map((_, i) => i)];
    const feeds: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids64([...Array(pad).fill(0), ...short, ...PROMPT]), [2, PROMPT.length]),
      attention_mask: new ort.Tensor('int64', ids64(mask), [2, PROMPT.length]),
      position_ids: new ort.Tensor('int64', ids64(positions), [2, PROMPT.length]),
    };
    for (let l = 0; l < spec.numLayers; l++) for (const kv of ['key', 'value']) feeds[`past_key_values.${l}.${kv}`] = new ort.Tensor('float32', new Float32Array(0), [2, spec.numKvHeads, 0, spec.headDim]);
    const out = await session.run(feeds);
    const V = spec.vocabSize, S = PROMPT.length;
    const logits = out.logits.data as Float32Array;
    const row = (b: number, i: number) => logits.subarray((b * S + i) * V, (b * S + i + 1) * V);
    const refShort = new ReferenceDecoder(spec, weights), refLong = new ReferenceDecoder(spec, weights);
    const cacheShort = refShort.newCache(), cacheLong = refLong.newCache();
    const wantShort = refShort.forward(short, cacheShort), wantLong = refLong.forward(PROMPT, cacheLong);
    const diffs: number[] = [];
    short.forEach((_, i) => diffs.push(maxAbsDiff(row(0, pad + i), wantShort[i])));
    PROMPT.forEach((_, i) => diffs.push(maxAbsDiff(row(1, i), wantLong[i])));

    const next = [argmax(wantShort.at(-1)!), argmax(wantLong.at(-1)!)];
    const step: Record<string, ort.Tensor> = {
      input_ids: new ort.Tensor('int64', ids64(next), [2, 1]),
      attention_mask: new ort.Tensor('int64', ids64([...mask.slice(0, S), 1, ...mask.slice(S), 1]), [2, S + 1]),
      position_ids: new ort.Tensor('int64', ids64([short.length, S]), [2, 1]),
    };
    for (let l = 0; l < spec.numLayers; l++) for (const kv of ['key', 'value']) step[`past_key_values.${l}.${kv}`] = out[`present.${l}.${kv}`];
    const out2 = await session.run(step);
    const l2 = out2.logits.data as Float32Array;
    diffs.push(maxAbsDiff(l2.subarray(0, V), refShort.forward([next[0]], cacheShort)[0]));
    diffs.push(maxAbsDiff(l2.subarray(V, 2 * V), refLong.forward([next[1]], cacheLong)[0]));
    expect(Math.max(...diffs)).toBeLessThanOrEqual(TOLERANCE);
    await session.release();
  });

  it('f16 weights (the WebGPU build) track the reference on f16-rounded weights', async () => {
    const { spec, weights } = fixture(VARIANTS['qwen3 (head_dim 32 ≠ hidden/heads)']);
    const rounded = new Map([...weights].map(([k, v]) => [k, roundToDtype(v, 'F16')]));
    const run = await allLogitsSession(spec, weights, 'f16');
    expect(run.graph.kvType).toBe('float16');
    const got = await run.run(PROMPT);
    const want = new ReferenceDecoder(spec, rounded).forward(PROMPT);
    const diff = Math.max(...want.map((row, i) => maxAbsDiff(got[i], row)));
    console.log(`f16 graph: max |Δlogit| ${diff.toExponential(2)}`);
    expect(diff).toBeLessThan(2e-2);
  });
});
