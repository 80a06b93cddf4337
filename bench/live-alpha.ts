/**
 * Live-α latency of the chat preview (issue #5): what one move of the α slider costs on the wasm EP.
 *
 * Runs the preview worker's own code (`Preview` from workers/preview-api.ts) in Node: the "demo" triplet
 * it merges is a generated bf16 Llama-layout triplet served from disk through `PreviewEnv.fetch`, so
 * `open({ kind: 'live' })` and `setAlpha(α)` do exactly what they do in the page: `LiveModel` reads cp and
 * τ = chat − base once as f32; each α change re-plans and computes cp + α·τ straight into the graph's
 * weight buffers (re-merge), then opens a new ORT session on them (rebind).
 *
 *   npx tsx bench/live-alpha.ts --size 30m|135m [--threads N] [--changes N] [--profile DIR]
 *
 * Prints one JSON line (the last line of stdout). `npm run bench:model` runs it for 30m and 135m.
 */
import { copyFile, mkdir, open, readFile, rm, stat, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { buildSafetensorsHeader } from '../src/core/safetensors/build-header.ts';
import { Preview } from '../workers/preview-api.ts';
import { llamaTensors, parameterCount, type BenchModelSpec, type Role } from './generate.ts';

export interface LiveSize {
  spec: BenchModelSpec;
  tied: boolean;
  note: string;
}

export const LIVE_SIZES: Record<string, LiveSize> = {
  /** hidden 384, 12 layers, 6/2 heads, intermediate 1024, vocab 32000, tied: 31.2 M parameters. */
  '30m': { spec: { hidden: 384, intermediate: 1024, layers: 12, heads: 6, kvHeads: 2, vocab: 32000, shards: 1 }, tied: true, note: 'hidden 384, 12 layers, 6/2 heads, intermediate 1024, vocab 32000, tied' },
  /** SmolLM2-135M's shape: hidden 576, 30 layers, 9/3 heads, intermediate 1536, vocab 49152, tied: 134.5 M. */
  '135m': { spec: { hidden: 576, intermediate: 1536, layers: 30, heads: 9, kvHeads: 3, vocab: 49152, shards: 1 }, tied: true, note: 'SmolLM2-135M shape: hidden 576, 30 layers, 9/3 heads, intermediate 1536, vocab 49152, tied' },
};

export interface LiveRow {
  size: string;
  params: number;
  threads: number;
  openMs: number;
  /** Per α change, in order. */
  changes: { alpha: number; remergeMs: number; rebindMs: number }[];
  remergeMs: number;
  rebindMs: number;
  totalMs: number;
}

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');
const DEMO = join(ROOT, 'public', 'demo');
const TOKENIZER_FILES = ['tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'generation_config.json'];

function tensorsOf(size: LiveSize) {
  return llamaTensors(size.spec).filter((t) => !(size.tied && t.name === 'lm_head.weight'));
}

export function liveParameterCount(size: LiveSize): number {
  return parameterCount(size.spec) - (size.tied ? size.spec.vocab * size.spec.hidden : 0);
}

/** Random bf16 weights (|x| ≈ 0.004–0.03, norms ≈ 1), per role and tensor, one tensor at a time. */
async function writeModel(dir: string, role: Role, size: LiveSize): Promise<void> {
  await mkdir(dir, { recursive: true });
  const tensors = tensorsOf(size);
  const header = buildSafetensorsHeader(tensors.map(({ name, dtype, shape }) => ({ name, dtype, shape })), { format: 'pt' });
  const fh = await open(join(dir, 'model.safetensors'), 'w');
  try {
    await fh.write(header.bytes, 0, header.bytes.length, 0);
    let pos = header.bytes.length;
    let x = role === 'base' ? 0x9e3779b9 : role === 'chat' ? 0x85ebca6b : 0xc2b2ae35;
    for (const t of tensors) {
      const n = t.shape.reduce((a, b) => a * b, 1);
      const out = new Uint16Array(n);
      const top = t.norm ? 127 : 121;
      for (let i = 0; i < n; i++) {
        x ^= x << 13; x ^= x >>> 17; x ^= x << 5;
        const k = Math.clz32(((x >>> 7) & 0x7fff) | 1) - 17;
        out[i] = ((x >>> 16) & 0x8000) | ((top - k) << 7) | (x & 0x7f);
      }
      const bytes = new Uint8Array(out.buffer);
      let done = 0;
      while (done < bytes.length) done += (await fh.write(bytes, done, bytes.length - done, pos + done)).bytesWritten;
      pos += bytes.length;
    }
    if (pos !== header.fileSize) throw new Error(`internal: wrote ${pos} bytes, header says ${header.fileSize}`);
  } finally {
    await fh.close();
  }
  const s = size.spec;
  const demoConfig = JSON.parse(await readFile(join(DEMO, role, 'config.json'), 'utf8')) as Record<string, unknown>;
  const config = {
    ...demoConfig, hidden_size: s.hidden, intermediate_size: s.intermediate, num_hidden_layers: s.layers, num_attention_heads: s.heads,
    num_key_value_heads: s.kvHeads, head_dim: s.hidden / s.heads, vocab_size: s.vocab, tie_word_embeddings: size.tied, max_position_embeddings: 2048,
  };
  await writeFile(join(dir, 'config.json'), JSON.stringify(config, null, 2) + '\n');
  // The demo's tokenizer (ids < 308 ⊂ the vocabulary): the preview needs one, its size does not matter here.
  for (const f of TOKENIZER_FILES) await copyFile(join(DEMO, role, f), join(dir, f)).catch(() => undefined);
}

/** The triplet under <tmp>/chatvec-live-<size>, generated once. */
export async function ensureLiveTriplet(name: string): Promise<string> {
  const size = LIVE_SIZES[name];
  if (!size) throw new Error(`unknown size "${name}" (${Object.keys(LIVE_SIZES).join(', ')})`);
  const dir = join(os.tmpdir(), `chatvec-live-${name}`);
  const marker = join(dir, 'complete.json');
  const want = JSON.stringify(size);
  if ((await readFile(marker, 'utf8').catch(() => '')) === want) return dir;
  await rm(dir, { recursive: true, force: true });
  for (const role of ['base', 'chat', 'cp'] as Role[]) await writeModel(join(dir, role), role, size);
  await writeFile(marker, want);
  return dir;
}

/** fetch over a local folder, answering like a static server (404 for missing files). */
function folderFetch(dir: string): typeof fetch {
  return (async (input: RequestInfo | URL) => {
    const path = fileURLToPath(new URL(String(input instanceof Request ? input.url : input)));
    if (!path.startsWith(dir)) return new Response('forbidden', { status: 403 });
    const ok = await stat(path).then((s) => s.isFile(), () => false);
    if (!ok) return new Response('not found', { status: 404 });
    return new Response(await readFile(path), { headers: { 'content-type': path.endsWith('.json') ? 'application/json' : 'application/octet-stream' } });
  }) as typeof fetch;
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];

export async function benchLiveAlpha(name: string, threads: number, changes: number): Promise<LiveRow> {
  const dir = await ensureLiveTriplet(name);
  const preview = new Preview({ demoUrl: new URL(`file://${dir}/`).href, fetch: folderFetch(dir), modelOptions: { numThreads: threads, ort } });
  const t0 = performance.now();
  const info = await preview.open({ kind: 'live', alpha: 1 }, 'wasm');
  const openMs = performance.now() - t0;
  const rows: LiveRow['changes'] = [];
  const alphas = [0.5, 0.75, 0.25, 1, 0.6, 0.9, 0.1];
  for (let i = 0; i < changes; i++) {
    const r = await preview.setAlpha(alphas[i % alphas.length]);
    rows.push({ alpha: r.alpha, remergeMs: r.remergeMs, rebindMs: r.rebindMs });
  }
  // A sanity step: the rebound model still runs.
  await preview.generate([{ role: 'user', content: 'hello' }], '', { greedy: true, temperature: 1, topK: 0, topP: 1, repetitionPenalty: 1, maxNewTokens: 2 }, () => undefined);
  await preview.close();
  return {
    size: name, params: info.parameters, threads, openMs, changes: rows,
    remergeMs: median(rows.map((r) => r.remergeMs)), rebindMs: median(rows.map((r) => r.rebindMs)), totalMs: median(rows.map((r) => r.remergeMs + r.rebindMs)),
  };
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  const { values } = parseArgs({ options: { size: { type: 'string' }, threads: { type: 'string' }, changes: { type: 'string' } } });
  const row = await benchLiveAlpha(values.size ?? '30m', Number(values.threads ?? 1), Number(values.changes ?? 5));
  console.log(JSON.stringify(row));
}
