/**
 * In-tab preview benchmark (issue #5): `npm run bench:model [-- options]`.
 *
 * For the tiny test fixture and for a generated Llama-layout model of ≥ 100 M parameters (random
 * f32 weights made one tensor at a time straight into the external data), on onnxruntime-web's
 * wasm EP in Node, it measures:
 *   create    building the graph, packing the weights, InferenceSession.create
 *   rebind    what "live α" pays per re-merge with the graph kept: packing the new weights (here: making
 *             random ones, which stands in for the merge) and a new InferenceSession over the same bytes
 *   prefill   a PROMPT-token prompt in one run, tokens/s
 *   decode    one token per run with the KV cache, tokens/s (median step)
 *   bound     weight bytes read per decoded token ÷ memory copy bandwidth measured in the same run
 *             (TypedArray.set of a 256 MiB buffer): decode time / bound time says how far from
 *             memory-bound the decode step is
 *
 * options:
 *   --threads a,b   wasm thread counts to try (default 1,<cores>)
 *   --prompt N      prefill length (default 128)
 *   --steps N       decode steps (default 32)
 *   --sizes a,b     fixture,125m (default both)
 *   --live a,b      live-α latency (bench/live-alpha.ts: the preview worker's Preview.setAlpha, re-merge at f32 +
 *                   rebind, on generated bf16 triplets) for 30m,135m (default both; `none` skips), 1 thread
 */
import { spawnSync } from 'node:child_process';
import os from 'node:os';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { buildTriplet } from '../scripts/fixtures.ts';
import { decoderSpecFromConfig, decoderTensors, type DecoderSpec } from '../src/model/graph/decoder-spec.ts';
import type { WeightGetter } from '../src/model/graph/external-data.ts';
import { PreviewModel } from '../src/model/session.ts';
import type { LiveRow } from './live-alpha.ts';

const { values } = parseArgs({ options: { threads: { type: 'string' }, prompt: { type: 'string' }, steps: { type: 'string' }, sizes: { type: 'string' }, live: { type: 'string' }, one: { type: 'string' }, bandwidth: { type: 'string' } } });
const PROMPT = Number(values.prompt ?? 128);
const STEPS = Number(values.steps ?? 32);
const THREADS = (values.threads ?? `1,${os.availableParallelism()}`).split(',').map(Number).filter((n, i, a) => a.indexOf(n) === i);
const SIZES = (values.sizes ?? 'fixture,125m').split(',');
const LIVE = (values.live ?? '30m,135m').split(',').filter((x) => x && x !== 'none');

/** hidden 768, 12 layers, 12/4 heads, intermediate 2048, vocab 32000, untied: 125 M parameters, 0.50 GB in f32. */
const LARGE_CONFIG = {
  architectures: ['LlamaForCausalLM'], model_type: 'llama', hidden_size: 768, intermediate_size: 2048, num_hidden_layers: 12,
  num_attention_heads: 12, num_key_value_heads: 4, vocab_size: 32000, rms_norm_eps: 1e-5, rope_theta: 10000, tie_word_embeddings: false, hidden_act: 'silu',
};

/** Random weights of realistic size (std 0.02, norms ≈ 1), made on request, one tensor at a time. */
function randomWeights(seed: number): WeightGetter {
  let s = seed >>> 0;
  const uniform = () => {
    s ^= s << 13; s ^= s >>> 17; s ^= s << 5;
    return (s >>> 0) / 4294967296;
  };
  return (name, shape) => {
    const n = shape.reduce((a, b) => a * b, 1);
    const out = new Float32Array(n);
    const isNorm = name.endsWith('norm.weight');
    // Irwin–Hall(4) approximates a normal well enough for timing and keeps generation fast.
    for (let i = 0; i < n; i++) out[i] = (isNorm ? 1 : 0) + 0.02 * 1.732 * (uniform() + uniform() + uniform() + uniform() - 2);
    return out;
  };
}

/** Bytes one decode step must read: every weight but the embedding table, of which only one row. */
function bytesPerToken(spec: DecoderSpec, bytesPerValue: number): number {
  let n = 0;
  for (const t of decoderTensors(spec)) n += t.name === 'model.embed_tokens.weight' ? (spec.tiedEmbeddings ? t.shape[0] * t.shape[1] : t.shape[1]) : t.shape.reduce((a, b) => a * b, 1);
  return n * bytesPerValue;
}

/** Best of 5 copies of a 256 MiB buffer: bytes copied per second. */
function copyBandwidth(): number {
  const n = 64 * 1024 * 1024;
  const src = new Float32Array(n).fill(1), dst = new Float32Array(n);
  dst.set(src);
  let best = Infinity;
  for (let r = 0; r < 5; r++) {
    const t = performance.now();
    dst.set(src);
    best = Math.min(best, performance.now() - t);
  }
  return (n * 4) / (best / 1000);
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

interface Row {
  size: string; params: number; threads: number; createMs: number; rebindPackMs: number; rebindSessionMs: number;
  prefillTokS: number; decodeTokS: number; decodeMsPerToken: number; boundMsPerToken: number; ratio: number;
}

async function benchOne(size: string, threads: number, bandwidth: number): Promise<Row> {
  ort.env.wasm.numThreads = threads;
  const fixture = size === 'fixture' ? buildTriplet({ arch: 'llama', dtype: 'F32', seed: 1, weightStd: 0.1 }).chat : null;
  const config = fixture ? fixture.config! : LARGE_CONFIG;
  const weights = fixture ? new Map(fixture.tensors.map((t) => [t.name, t.data as Float32Array])) : randomWeights(1);
  const spec = decoderSpecFromConfig(config);
  const t0 = performance.now();
  const model = await PreviewModel.create({ config, weights, numThreads: threads, ort });
  const createMs = performance.now() - t0;
  const rebind = await model.rebind(fixture ? weights : randomWeights(2));

  const prompt = Array.from({ length: PROMPT }, (_, i) => (i * 7919 + 13) % Math.min(spec.vocabSize, 256));
  await model.forward(prompt.slice(0, 8), model.emptyCache()); // warm-up
  const prefillTimes: number[] = [];
  let cache = model.emptyCache();
  for (let r = 0; r < 3; r++) {
    const t = performance.now();
    const res = await model.forward(prompt, model.emptyCache());
    prefillTimes.push(performance.now() - t);
    cache = res.cache;
  }
  const stepTimes: number[] = [];
  let next = 1;
  for (let s = 0; s < STEPS; s++) {
    const t = performance.now();
    const res = await model.forward([next], cache);
    stepTimes.push(performance.now() - t);
    cache = res.cache;
    next = (next * 31 + 7) % 256;
  }
  await model.release();
  const decodeMs = median(stepTimes);
  const boundMs = (bytesPerToken(spec, 4) / bandwidth) * 1000;
  return {
    size, params: model.parameterCount, threads, createMs, rebindPackMs: rebind.packMs, rebindSessionMs: rebind.sessionMs,
    prefillTokS: PROMPT / (median(prefillTimes) / 1000), decodeTokS: 1000 / decodeMs, decodeMsPerToken: decodeMs, boundMsPerToken: boundMs, ratio: decodeMs / boundMs,
  };
}

if (values.one) {
  // Child mode: ORT's wasm module reads numThreads once, so each thread count runs in its own process.
  const [size, threads] = values.one.split(':');
  console.log(JSON.stringify(await benchOne(size, Number(threads), Number(values.bandwidth))));
} else {
  const bandwidth = copyBandwidth();
  console.log(`machine: ${os.cpus()[0]?.model ?? '?'}, ${os.availableParallelism()} cores, ${(os.totalmem() / 2 ** 30).toFixed(1)} GiB, Node ${process.version}, onnxruntime-web ${ort.env.versions.web}`);
  console.log(`copy bandwidth (TypedArray.set, 256 MiB): ${(bandwidth / 1e9).toFixed(2)} GB/s`);
  const rows: Row[] = [];
  for (const size of SIZES) {
    for (const threads of THREADS) {
      const args = ['--import', 'tsx', fileURLToPath(import.meta.url), '--one', `${size}:${threads}`, '--bandwidth', String(bandwidth), '--prompt', String(PROMPT), '--steps', String(STEPS)];
      const r = spawnSync(process.execPath, args, { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`bench child ${size}:${threads} failed:\n${r.stderr}`);
      const row = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as Row;
      rows.push(row);
      console.log(JSON.stringify(row));
    }
  }
  console.log('\n| model | params | threads | create ms | rebind: pack ms | rebind: session ms | prefill tok/s | decode tok/s | decode ms/token | bound ms/token | decode ÷ bound |');
  console.log('|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|');
  for (const r of rows) {
    console.log(`| ${r.size} | ${(r.params / 1e6).toFixed(r.params < 1e6 ? 3 : 1)} M | ${r.threads} | ${r.createMs.toFixed(0)} | ${r.rebindPackMs.toFixed(0)} | ${r.rebindSessionMs.toFixed(0)} | ${r.prefillTokS.toFixed(0)} | ${r.decodeTokS.toFixed(1)} | ${r.decodeMsPerToken.toFixed(2)} | ${r.boundMsPerToken.toFixed(2)} | ${r.ratio.toFixed(2)} |`);
  }
  if (LIVE.length) {
    // Live α: each size in its own process, 5 α changes after opening, median of the 5.
    const live: LiveRow[] = [];
    for (const size of LIVE) {
      const r = spawnSync(process.execPath, ['--import', 'tsx', fileURLToPath(new URL('./live-alpha.ts', import.meta.url)), '--size', size, '--threads', '1', '--changes', '5'], { encoding: 'utf8', maxBuffer: 1 << 24 });
      if (r.status !== 0) throw new Error(`live-α child ${size} failed:\n${r.stderr}`);
      const row = JSON.parse(r.stdout.trim().split('\n').at(-1)!) as LiveRow;
      live.push(row);
      console.log(JSON.stringify(row));
    }
    console.log('\n| live α model | params | threads | open ms | re-merge ms | rebind ms | total ms (median of 5) | target ≤ 1000 ms |');
    console.log('|---|---:|---:|---:|---:|---:|---:|---|');
    for (const r of live) console.log(`| ${r.size} | ${(r.params / 1e6).toFixed(1)} M | ${r.threads} | ${r.openMs.toFixed(0)} | ${r.remergeMs.toFixed(0)} | ${r.rebindMs.toFixed(0)} | ${r.totalMs.toFixed(0)} | ${r.totalMs <= 1000 ? 'met' : 'missed'} |`);
  }
}
