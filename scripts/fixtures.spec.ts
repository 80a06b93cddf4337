import { createHash } from 'node:crypto';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeToF32, type FloatDtype } from '../src/core/dtype.ts';
import { readSafetensorsHeader, type SafetensorsHeader } from '../src/core/safetensors/header.ts';
import { NodeFileSource } from '../src/core/sources/node-fs.ts';
import {
  BOS_TOKEN, EOS_TOKEN, EOT_TOKEN, SPECIAL_TOKENS, SPECIALS_TENSOR, bytesToUnicode, specialValues, splitShards, writeModel, writeTriplet,
  type FixtureTensor, type TripletOptions,
} from './fixtures.ts';

let root: string;
beforeAll(async () => {
  root = await mkdtemp(join(tmpdir(), 'cvs-fixtures-'));
});
afterAll(async () => {
  if (root) await rm(root, { recursive: true, force: true });
});

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any
const readJson = async (p: string): Promise<Json> => JSON.parse(await readFile(p, 'utf8'));

interface Loaded {
  headers: SafetensorsHeader[];
  /** name → { header entry, shard path } */
  tensors: Map<string, { dtype: string; shape: number[]; offset: number; byteLength: number; file: string }>;
}

async function loadModel(dir: string): Promise<Loaded> {
  const files = (await readdir(dir)).filter((f) => f.endsWith('.safetensors')).sort();
  const headers: SafetensorsHeader[] = [];
  const tensors: Loaded['tensors'] = new Map();
  for (const f of files) {
    const src = await NodeFileSource.open(join(dir, f));
    try {
      const h = await readSafetensorsHeader(src);
      expect(h.metadata).toEqual({ format: 'pt' });
      headers.push(h);
      for (const t of h.tensors) {
        expect(tensors.has(t.name)).toBe(false);
        tensors.set(t.name, { ...t, file: f });
      }
    } finally {
      await src.close();
    }
  }
  return { headers, tensors };
}

async function readTensorF32(dir: string, m: Loaded, name: string): Promise<Float32Array> {
  const t = m.tensors.get(name)!;
  const bytes = (await readFile(join(dir, t.file))).subarray(t.offset, t.offset + t.byteLength);
  const aligned = new Uint8Array(bytes); // own buffer, offset 0
  const n = t.shape.reduce((a, b) => a * b, 1);
  const out = new Float32Array(n);
  decodeToF32(aligned, t.dtype as FloatDtype, out, n);
  return out;
}

function expectedShapes(o: Required<Pick<TripletOptions, 'arch' | 'tiedEmbeddings'>> & { hidden: number; layers: number; heads: number; kvHeads: number; inter: number; vocab: number }): Map<string, number[]> {
  const hd = o.hidden / o.heads;
  const m = new Map<string, number[]>();
  m.set('model.embed_tokens.weight', [o.vocab, o.hidden]);
  for (let i = 0; i < o.layers; i++) {
    const p = `model.layers.${i}.`;
    m.set(`${p}self_attn.q_proj.weight`, [o.heads * hd, o.hidden]);
    m.set(`${p}self_attn.k_proj.weight`, [o.kvHeads * hd, o.hidden]);
    m.set(`${p}self_attn.v_proj.weight`, [o.kvHeads * hd, o.hidden]);
    m.set(`${p}self_attn.o_proj.weight`, [o.hidden, o.hidden]);
    if (o.arch === 'qwen2') {
      m.set(`${p}self_attn.q_proj.bias`, [o.heads * hd]);
      m.set(`${p}self_attn.k_proj.bias`, [o.kvHeads * hd]);
      m.set(`${p}self_attn.v_proj.bias`, [o.kvHeads * hd]);
    }
    m.set(`${p}mlp.gate_proj.weight`, [o.inter, o.hidden]);
    m.set(`${p}mlp.up_proj.weight`, [o.inter, o.hidden]);
    m.set(`${p}mlp.down_proj.weight`, [o.hidden, o.inter]);
    m.set(`${p}input_layernorm.weight`, [o.hidden]);
    m.set(`${p}post_attention_layernorm.weight`, [o.hidden]);
  }
  m.set('model.norm.weight', [o.hidden]);
  if (!o.tiedEmbeddings) m.set('lm_head.weight', [o.vocab, o.hidden]);
  return m;
}

async function hashDir(dir: string): Promise<Record<string, string>> {
  const out: Record<string, string> = {};
  for (const f of (await readdir(dir)).sort()) out[f] = createHash('sha256').update(await readFile(join(dir, f))).digest('hex');
  return out;
}

const CASES: { label: string; opts: TripletOptions }[] = [
  { label: 'llama BF16 single', opts: { arch: 'llama', dtype: 'BF16', seed: 1 } },
  { label: 'llama F16 sharded×3, cp+4', opts: { arch: 'llama', dtype: 'F16', shards: 3, cpExtraTokens: 4, seed: 2 } },
  { label: 'llama F32 tied, cp+8', opts: { arch: 'llama', dtype: 'F32', tiedEmbeddings: true, cpExtraTokens: 8, seed: 3 } },
  { label: 'qwen2 BF16 sharded×2, cp+8', opts: { arch: 'qwen2', dtype: 'BF16', shards: 2, cpExtraTokens: 8, seed: 4, specials: true } },
  { label: 'qwen2 F16 tied', opts: { arch: 'qwen2', dtype: 'F16', tiedEmbeddings: true, seed: 5, layers: 3, hiddenSize: 32, heads: 4, kvHeads: 1, intermediate: 48 } },
  { label: 'qwen2 F32 sharded×4, cp+2, specials', opts: { arch: 'qwen2', dtype: 'F32', shards: 4, cpExtraTokens: 2, seed: 6, specials: true } },
];

describe.each(CASES)('triplet: $label', ({ label, opts }) => {
  let paths: { base: string; chat: string; cp: string };
  const hidden = opts.hiddenSize ?? 64, layers = opts.layers ?? 2, heads = opts.heads ?? 4, kvHeads = opts.kvHeads ?? 2, inter = opts.intermediate ?? 128;
  const vocab = opts.vocab ?? 300, extra = opts.cpExtraTokens ?? 0, shards = opts.shards ?? 1, tied = opts.tiedEmbeddings ?? false;
  const vocabOf = (m: 'base' | 'chat' | 'cp') => (m === 'cp' ? vocab + extra : vocab);

  beforeAll(async () => {
    paths = await writeTriplet(join(root, label.replace(/[^a-z0-9]+/gi, '-')), opts);
  });

  it('writes the HF files', () => {
    for (const m of ['base', 'chat', 'cp'] as const) {
      for (const f of ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json']) {
        expect(existsSync(join(paths[m], f)), `${m}/${f}`).toBe(true);
      }
      if (shards === 1) {
        expect(existsSync(join(paths[m], 'model.safetensors'))).toBe(true);
        expect(existsSync(join(paths[m], 'model.safetensors.index.json'))).toBe(false);
      } else {
        expect(existsSync(join(paths[m], 'model.safetensors'))).toBe(false);
        for (let i = 1; i <= shards; i++) expect(existsSync(join(paths[m], `model-0000${i}-of-0000${shards}.safetensors`))).toBe(true);
      }
    }
  });

  it('has the expected config', async () => {
    for (const m of ['base', 'chat', 'cp'] as const) {
      const c = await readJson(join(paths[m], 'config.json'));
      expect(c.architectures).toEqual([opts.arch === 'llama' ? 'LlamaForCausalLM' : 'Qwen2ForCausalLM']);
      expect(c.model_type).toBe(opts.arch);
      expect(c).toMatchObject({
        hidden_size: hidden, intermediate_size: inter, num_hidden_layers: layers, num_attention_heads: heads, num_key_value_heads: kvHeads,
        vocab_size: vocabOf(m), rms_norm_eps: 1e-5, rope_theta: 10000, max_position_embeddings: 256, tie_word_embeddings: tied,
        torch_dtype: { BF16: 'bfloat16', F16: 'float16', F32: 'float32' }[opts.dtype],
      });
    }
  });

  it('has the expected tensors and shapes in valid safetensors', async () => {
    for (const m of ['base', 'chat', 'cp'] as const) {
      const loaded = await loadModel(paths[m]);
      expect(loaded.headers.length).toBe(shards);
      const want = expectedShapes({ arch: opts.arch, tiedEmbeddings: tied, hidden, layers, heads, kvHeads, inter, vocab: vocabOf(m) });
      expect(new Set(loaded.tensors.keys())).toEqual(new Set(want.keys()));
      for (const [name, shape] of want) {
        expect(loaded.tensors.get(name)!.shape, name).toEqual(shape);
        expect(loaded.tensors.get(name)!.dtype).toBe(opts.dtype);
      }
      if (shards > 1) {
        const index = await readJson(join(paths[m], 'model.safetensors.index.json'));
        let total = 0;
        for (const [name, t] of loaded.tensors) {
          expect(index.weight_map[name]).toBe(t.file);
          total += t.byteLength;
        }
        expect(Object.keys(index.weight_map).length).toBe(loaded.tensors.size);
        expect(index.metadata.total_size).toBe(total);
      }
    }
  });

  it('has tokenizers whose special ids match config and generation_config', async () => {
    const ids: Record<string, Record<string, number>> = {};
    for (const m of ['base', 'chat', 'cp'] as const) {
      const tok = await readJson(join(paths[m], 'tokenizer.json'));
      const cfg = await readJson(join(paths[m], 'config.json'));
      const gen = await readJson(join(paths[m], 'generation_config.json'));
      const tc = await readJson(join(paths[m], 'tokenizer_config.json'));
      const stm = await readJson(join(paths[m], 'special_tokens_map.json'));
      expect(tok.version).toBe('1.0');
      expect(tok.model.type).toBe('BPE');
      expect(tok.pre_tokenizer).toMatchObject({ type: 'ByteLevel', add_prefix_space: false, use_regex: true });
      expect(tok.decoder.type).toBe('ByteLevel');
      const vocabMap = tok.model.vocab as Record<string, number>;
      const added = tok.added_tokens as { id: number; content: string; special: boolean }[];
      // ids 0..vocab-1 each used exactly once across the BPE vocab and added tokens
      const all = [...Object.values(vocabMap), ...added.map((a) => a.id)].sort((a, b) => a - b);
      expect(all).toEqual(Array.from({ length: vocabOf(m) }, (_, i) => i));
      expect(added.map((a) => a.content)).toEqual([...SPECIAL_TOKENS]);
      expect(added.every((a) => a.special)).toBe(true);
      // every byte symbol is in the vocab; every merge joins two known tokens into a known token
      for (const ch of bytesToUnicode()) expect(vocabMap[ch]).toBeTypeOf('number');
      for (const merge of tok.model.merges as string[]) {
        const [a, b, ...rest] = merge.split(' ');
        expect(rest).toEqual([]);
        expect(vocabMap[a]).toBeLessThan(vocabMap[a + b]);
        expect(vocabMap[b]).toBeLessThan(vocabMap[a + b]);
      }
      const id = Object.fromEntries(added.map((a) => [a.content, a.id]));
      ids[m] = id;
      const eos = m === 'chat' ? EOT_TOKEN : EOS_TOKEN;
      expect(cfg.bos_token_id).toBe(id[BOS_TOKEN]);
      expect(cfg.eos_token_id).toBe(id[eos]);
      expect(gen).toMatchObject({ bos_token_id: id[BOS_TOKEN], eos_token_id: id[eos], do_sample: false });
      expect(tc).toMatchObject({ bos_token: BOS_TOKEN, eos_token: eos, model_max_length: 256, tokenizer_class: 'PreTrainedTokenizerFast' });
      expect(stm).toMatchObject({ bos_token: BOS_TOKEN, eos_token: eos });
      for (const a of added) expect(tc.added_tokens_decoder[String(a.id)]).toMatchObject({ content: a.content, special: true });
      if (m === 'chat') {
        expect(tc.chat_template).toContain('<|start_header_id|>');
        expect(tc.chat_template).toContain('<|eot_id|>');
        expect(tc.chat_template).toContain('add_generation_prompt');
      } else {
        expect(tc.chat_template).toBeUndefined();
      }
    }
    expect(ids.chat).toEqual(ids.base);
    if (extra > 0) {
      expect(ids.cp[EOT_TOKEN]).not.toBe(ids.chat[EOT_TOKEN]);
      expect(ids.cp[EOT_TOKEN]).toBe(ids.chat[EOT_TOKEN] + extra);
    } else {
      expect(ids.cp).toEqual(ids.chat);
    }
  });

  it('plants special values in model.norm.weight', async () => {
    const sv = specialValues(opts.dtype);
    const vals: Record<string, Float32Array> = {};
    for (const m of ['base', 'chat', 'cp'] as const) vals[m] = await readTensorF32(paths[m], await loadModel(paths[m]), SPECIALS_TENSOR);
    sv.base.forEach((v, k) => {
      expect(Object.is(vals.base[k], v), `base[${k}] = ${vals.base[k]}, want ${v}`).toBe(true);
      expect(Object.is(vals.chat[k], sv.chat[k]), `chat[${k}]`).toBe(true);
      expect(Object.is(vals.cp[k], sv.cp[k]), `cp[${k}]`).toBe(true);
    });
    // index 4: a subnormal of the storage dtype
    const minNormal = opts.dtype === 'F16' ? 2 ** -14 : 2 ** -126;
    expect(vals.base[4]).toBeGreaterThan(0);
    expect(vals.base[4]).toBeLessThan(minNormal);
    for (const k of [9, 10, 11, 12, 13]) expect(Number.isFinite(vals.base[k])).toBe(true);
    if (opts.specials) {
      for (const [k, v] of Object.entries(sv.nanInf.chat)) expect(Object.is(vals.chat[Number(k)], v), `chat[${k}]`).toBe(true);
      for (const [k, v] of Object.entries(sv.nanInf.cp)) expect(Object.is(vals.cp[Number(k)], v), `cp[${k}]`).toBe(true);
    } else {
      for (const m of ['chat', 'cp']) expect(vals[m].every((v) => Number.isFinite(v)), m).toBe(true);
    }
  });

  it('derives chat and cp from base by small deltas; cp special rows follow their token', async () => {
    const lb = await loadModel(paths.base), lc = await loadModel(paths.chat), lp = await loadModel(paths.cp);
    const name = `model.layers.${layers - 1}.mlp.down_proj.weight`;
    const b = await readTensorF32(paths.base, lb, name), c = await readTensorF32(paths.chat, lc, name), p = await readTensorF32(paths.cp, lp, name);
    let maxDiff = 0, differ = 0;
    for (let i = 0; i < b.length; i++) {
      maxDiff = Math.max(maxDiff, Math.abs(c[i] - b[i]), Math.abs(p[i] - b[i]));
      if (c[i] !== p[i]) differ++;
    }
    expect(maxDiff).toBeLessThan(0.05);
    expect(maxDiff).toBeGreaterThan(0);
    expect(differ).toBeGreaterThan(b.length / 2); // chat and cp deltas are independent
    const eb = await readTensorF32(paths.base, lb, 'model.embed_tokens.weight');
    const ep = await readTensorF32(paths.cp, lp, 'model.embed_tokens.weight');
    const eotBase = vocab - SPECIAL_TOKENS.length + 2, eotCp = eotBase + extra;
    for (let k = 0; k < hidden; k++) expect(Math.abs(ep[eotCp * hidden + k] - eb[eotBase * hidden + k])).toBeLessThan(0.05);
  });
});

describe('determinism', () => {
  it('same seed → identical bytes; another seed → different weights', async () => {
    const opts: TripletOptions = { arch: 'qwen2', dtype: 'BF16', shards: 2, cpExtraTokens: 3, seed: 42 };
    const a = await writeTriplet(join(root, 'det-a'), opts);
    const b = await writeTriplet(join(root, 'det-b'), opts);
    const c = await writeTriplet(join(root, 'det-c'), { ...opts, seed: 43 });
    for (const m of ['base', 'chat', 'cp'] as const) {
      const ha = await hashDir(a[m]);
      expect(Object.keys(ha).length).toBeGreaterThan(5);
      expect(await hashDir(b[m])).toEqual(ha);
      const hc = await hashDir(c[m]);
      expect(hc['model-00001-of-00002.safetensors']).not.toBe(ha['model-00001-of-00002.safetensors']);
      expect(hc['tokenizer.json']).toBe(ha['tokenizer.json']);
    }
  });

  it('rewriting a folder with fewer shards removes the stale shard files', async () => {
    const dir = join(root, 'rewrite');
    await writeTriplet(dir, { arch: 'llama', dtype: 'F16', shards: 3 });
    await writeTriplet(dir, { arch: 'llama', dtype: 'F16', shards: 1 });
    expect((await readdir(join(dir, 'base'))).filter((f) => f.startsWith('model')).sort()).toEqual(['model.safetensors']);
  });
});

describe('writeModel', () => {
  it('writes odd models: raw-byte tensors of other dtypes, no config, extra files', async () => {
    const dir = join(root, 'odd');
    const tensors: FixtureTensor[] = [
      { name: 'a', dtype: 'F32', shape: [2, 2], data: Float32Array.of(1, 2, 3, 4) },
      { name: 'ids', dtype: 'I64', shape: [3], data: new Uint8Array(24).fill(1) },
      { name: 'empty', dtype: 'BF16', shape: [0, 4], data: new Float32Array(0) },
    ];
    await writeModel(dir, { config: null, tensors, files: { 'README.md': '# odd\n', 'extra.json': { x: 1 } } });
    expect(existsSync(join(dir, 'config.json'))).toBe(false);
    expect(await readFile(join(dir, 'README.md'), 'utf8')).toBe('# odd\n');
    expect(await readJson(join(dir, 'extra.json'))).toEqual({ x: 1 });
    const loaded = await loadModel(dir);
    expect([...loaded.tensors.keys()]).toEqual(['a', 'ids', 'empty']);
    expect(await readTensorF32(dir, loaded, 'a')).toEqual(Float32Array.of(1, 2, 3, 4));
  });

  it('splits shards in order, none empty', () => {
    const ts: FixtureTensor[] = [100, 1, 1, 1, 1].map((n, i) => ({ name: `t${i}`, dtype: 'F32', shape: [n], data: new Float32Array(n) }));
    const groups = splitShards(ts, 4);
    expect(groups.length).toBe(4);
    expect(groups.every((g) => g.length > 0)).toBe(true);
    expect(groups.flat().map((t) => t.name)).toEqual(ts.map((t) => t.name));
    expect(() => splitShards(ts, 6)).toThrow();
  });
});
