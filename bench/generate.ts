/**
 * Streaming generator of large synthetic bf16 Llama-layout checkpoints for the benchmark.
 *
 * Unlike scripts/fixtures.ts (which builds whole models in memory for tests), this writes each
 * safetensors shard tensor by tensor in 16 MB chunks, so a multi-GB model needs ~16 MB of memory.
 * Values are random bf16 numbers with a geometric spread of exponents (|x| mostly 0.004–0.03, a
 * few smaller; norm weights around 1), never all zero. The merge cost hardly depends on the
 * values; these just look like real weights.
 */
import { mkdir, open, readdir, readFile, rm, stat, writeFile } from 'node:fs/promises';
import { join } from 'node:path';
import { buildSafetensorsHeader, type HeaderTensor } from '../src/core/safetensors/build-header.ts';

export interface BenchModelSpec {
  hidden: number;
  intermediate: number;
  layers: number;
  heads: number;
  kvHeads: number;
  vocab: number;
  /** Input shards per model (model-0000i-of-0000N.safetensors + index). */
  shards: number;
}

export type Role = 'base' | 'chat' | 'cp';
export const ROLES: Role[] = ['base', 'chat', 'cp'];

interface Slot extends HeaderTensor {
  norm: boolean;
}

/** Tensor names and shapes in Hugging Face Llama order (untied embeddings). */
export function llamaTensors(s: BenchModelSpec): Slot[] {
  const h = s.hidden, hd = h / s.heads, kv = s.kvHeads * hd, i = s.intermediate;
  const t = (name: string, shape: number[], norm = false): Slot => ({ name, dtype: 'BF16', shape, norm });
  const out: Slot[] = [t('model.embed_tokens.weight', [s.vocab, h])];
  for (let l = 0; l < s.layers; l++) {
    const p = `model.layers.${l}.`;
    out.push(
      t(`${p}self_attn.q_proj.weight`, [h, h]),
      t(`${p}self_attn.k_proj.weight`, [kv, h]),
      t(`${p}self_attn.v_proj.weight`, [kv, h]),
      t(`${p}self_attn.o_proj.weight`, [h, h]),
      t(`${p}mlp.gate_proj.weight`, [i, h]),
      t(`${p}mlp.up_proj.weight`, [i, h]),
      t(`${p}mlp.down_proj.weight`, [h, i]),
      t(`${p}input_layernorm.weight`, [h], true),
      t(`${p}post_attention_layernorm.weight`, [h], true),
    );
  }
  out.push(t('model.norm.weight', [h], true), t('lm_head.weight', [s.vocab, h]));
  return out;
}

const count = (shape: number[]) => shape.reduce((a, b) => a * b, 1);

export function parameterCount(s: BenchModelSpec): number {
  return llamaTensors(s).reduce((a, t) => a + count(t.shape), 0);
}

/** Tensor data bytes of one model (bf16). */
export function tensorBytes(s: BenchModelSpec): number {
  return parameterCount(s) * 2;
}

function config(s: BenchModelSpec): Record<string, unknown> {
  return {
    architectures: ['LlamaForCausalLM'],
    model_type: 'llama',
    attention_bias: false,
    attention_dropout: 0.0,
    bos_token_id: 1,
    eos_token_id: 2,
    head_dim: s.hidden / s.heads,
    hidden_act: 'silu',
    hidden_size: s.hidden,
    initializer_range: 0.02,
    intermediate_size: s.intermediate,
    max_position_embeddings: 4096,
    mlp_bias: false,
    num_attention_heads: s.heads,
    num_hidden_layers: s.layers,
    num_key_value_heads: s.kvHeads,
    pretraining_tp: 1,
    rms_norm_eps: 1e-5,
    rope_scaling: null,
    rope_theta: 10000,
    tie_word_embeddings: false,
    torch_dtype: 'bfloat16',
    use_cache: true,
    vocab_size: s.vocab,
  };
}

/** xorshift32 state per (model, tensor) so every tensor differs and generation is deterministic. */
function seedFor(role: Role, name: string): number {
  let h = role === 'base' ? 0x1234567 : role === 'chat' ? 0x2345678 : 0x3456789;
  for (let k = 0; k < name.length; k++) h = Math.imul(h ^ name.charCodeAt(k), 0x01000193);
  h ^= h >>> 15;
  return (h | 1) >>> 0 || 1;
}

/**
 * Fill `out` with random bf16 bit patterns: random sign and 7-bit mantissa; exponent top − k with
 * P(k) = 2^−(k+1), k ≤ 15. Returns the next PRNG state.
 */
function fillBf16(out: Uint16Array, state: number, top: number): number {
  let x = state | 0;
  for (let i = 0; i < out.length; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    const k = Math.clz32(((x >>> 7) & 0x7fff) | 1) - 17; // 0..14, geometric
    out[i] = ((x >>> 16) & 0x8000) | ((top - k) << 7) | (x & 0x7f);
  }
  return x;
}

/** Split tensors, in order, into `n` runs of roughly equal bytes. */
function split<T extends HeaderTensor>(tensors: T[], n: number): T[][] {
  const total = tensors.reduce((a, t) => a + count(t.shape) * 2, 0);
  const out: T[][] = [[]];
  let bytes = 0;
  for (const t of tensors) {
    const b = count(t.shape) * 2;
    if (out.length < n && out[out.length - 1].length > 0 && bytes + b / 2 > total / n) {
      out.push([]);
      bytes = 0;
    }
    out[out.length - 1].push(t);
    bytes += b;
  }
  return out;
}

const CHUNK_ELEMENTS = 8 * 1024 * 1024;

/** Write one model folder (config.json, shards, index). Returns the bytes of its shard files. */
export async function writeBenchModel(dir: string, role: Role, spec: BenchModelSpec): Promise<number> {
  await mkdir(dir, { recursive: true });
  const groups = split(llamaTensors(spec), spec.shards);
  const n = groups.length;
  const pad = (k: number) => String(k).padStart(5, '0');
  const weightMap: Record<string, string> = {};
  const buf = new Uint16Array(CHUNK_ELEMENTS);
  const bytes = new Uint8Array(buf.buffer);
  let fileBytes = 0, dataBytes = 0;
  for (const [gi, group] of groups.entries()) {
    const file = n === 1 ? 'model.safetensors' : `model-${pad(gi + 1)}-of-${pad(n)}.safetensors`;
    const header = buildSafetensorsHeader(group.map(({ name, dtype, shape }) => ({ name, dtype, shape })), { format: 'pt' });
    const fh = await open(join(dir, file), 'w');
    try {
      await fh.write(header.bytes, 0, header.bytes.length, 0);
      let pos = header.bytes.length;
      for (const t of group) {
        weightMap[t.name] = file;
        let left = count(t.shape);
        let state = seedFor(role, t.name);
        while (left > 0) {
          const m = Math.min(left, CHUNK_ELEMENTS);
          state = fillBf16(buf.subarray(0, m), state, t.norm ? 127 : 121);
          let done = 0;
          while (done < m * 2) done += (await fh.write(bytes, done, m * 2 - done, pos + done)).bytesWritten;
          pos += m * 2;
          left -= m;
        }
        dataBytes += count(t.shape) * 2;
      }
      if (pos !== header.fileSize) throw new Error(`internal: wrote ${pos} bytes, header says ${header.fileSize}`);
      fileBytes += header.fileSize;
    } finally {
      await fh.close();
    }
  }
  if (n > 1) await writeFile(join(dir, 'model.safetensors.index.json'), JSON.stringify({ metadata: { total_size: dataBytes }, weight_map: weightMap }, null, 2) + '\n');
  await writeFile(join(dir, 'config.json'), JSON.stringify(config(spec), null, 2) + '\n');
  return fileBytes;
}

export interface GeneratedTriplet {
  dir: string;
  base: string;
  chat: string;
  cp: string;
  /** Shard-file bytes of one model. */
  modelFileBytes: number;
  /** Every shard file of the three models (for warming / dropping the page cache). */
  files: string[];
  generated: boolean;
  generateSeconds: number;
}

const MARKER = 'bench-complete.json';

/** The triplet under `dir`, generated unless a complete one with the same spec is already there. */
export async function ensureTriplet(dir: string, spec: BenchModelSpec, log: (s: string) => void = () => {}): Promise<GeneratedTriplet> {
  const paths = { base: join(dir, 'base'), chat: join(dir, 'chat'), cp: join(dir, 'cp') };
  const markerPath = join(dir, MARKER);
  let marker: { spec: BenchModelSpec; modelFileBytes: number } | null = null;
  try {
    marker = JSON.parse(await readFile(markerPath, 'utf8'));
  } catch {
    marker = null;
  }
  let generated = false;
  const t0 = performance.now();
  if (!marker || JSON.stringify(marker.spec) !== JSON.stringify(spec) || !(await allPresent(paths, marker.modelFileBytes))) {
    await rm(dir, { recursive: true, force: true });
    await mkdir(dir, { recursive: true });
    let modelFileBytes = 0;
    for (const role of ROLES) {
      log(`  generating ${role} in ${paths[role]} …`);
      modelFileBytes = await writeBenchModel(paths[role], role, spec);
    }
    marker = { spec, modelFileBytes };
    await writeFile(markerPath, JSON.stringify(marker, null, 2) + '\n');
    generated = true;
  }
  const files: string[] = [];
  for (const role of ROLES) for (const f of (await readdir(paths[role])).sort()) if (f.endsWith('.safetensors')) files.push(join(paths[role], f));
  return { dir, ...paths, modelFileBytes: marker.modelFileBytes, files, generated, generateSeconds: (performance.now() - t0) / 1000 };
}

async function allPresent(paths: Record<Role, string>, modelFileBytes: number): Promise<boolean> {
  for (const role of ROLES) {
    let sum = 0;
    try {
      for (const f of await readdir(paths[role])) if (f.endsWith('.safetensors')) sum += (await stat(join(paths[role], f))).size;
    } catch {
      return false;
    }
    if (sum !== modelFileBytes) return false;
  }
  return true;
}
