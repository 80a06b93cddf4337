import { ChatvecError } from './errors.ts';
import type { Dtype } from './dtype.ts';
import { readSafetensorsHeader, type SafetensorsHeader } from './safetensors/header.ts';
import type { ByteSource, FileTree } from './sources/byte-source.ts';
import { readText } from './sources/byte-source.ts';

export interface TensorRef {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Absolute file offset of the data. */
  offset: number;
  byteLength: number;
  /** Shard file (relative path) holding the data. */
  file: string;
  source: ByteSource;
}

/** Small text files that travel with a checkpoint and end up in the merged output. */
export const SIDE_FILES = ['config.json', 'generation_config.json', 'tokenizer.json', 'tokenizer_config.json', 'special_tokens_map.json', 'chat_template.jinja', 'tokenizer.model', 'vocab.json', 'merges.txt', 'added_tokens.json'] as const;
const TEXT_LIMIT = 64 * 1024 * 1024;

export interface Checkpoint {
  label: string;
  config: Record<string, unknown> | null;
  tensors: Map<string, TensorRef>;
  shards: SafetensorsHeader[];
  /** Side files present, by name; binary ones (tokenizer.model) as bytes. */
  sideFiles: Map<string, Uint8Array>;
  totalTensorBytes: number;
  close(): Promise<void>;
}

export const INDEX_FILE = 'model.safetensors.index.json';

/** Open a checkpoint folder: config, side files, and a tensor index across shards. Weights are not read. */
export async function loadCheckpoint(tree: FileTree): Promise<Checkpoint> {
  const files = await tree.list();
  const label = tree.label;
  const sources: ByteSource[] = [];
  const closeAll = async () => {
    await Promise.all(sources.map((s) => s.close?.()));
  };
  try {
    const sideFiles = new Map<string, Uint8Array>();
    for (const name of SIDE_FILES) {
      if (!files.includes(name)) continue;
      const src = await tree.open(name);
      try {
        if (src.size > TEXT_LIMIT) throw new ChatvecError('file is too large', { code: 'side-file-too-large', file: `${label}/${name}`, expected: `at most ${TEXT_LIMIT} bytes`, found: `${src.size} bytes` });
        sideFiles.set(name, await src.read(0, src.size));
      } finally {
        await src.close?.();
      }
    }
    const config = sideFiles.has('config.json') ? parseJsonObject(sideFiles.get('config.json')!, `${label}/config.json`) : null;

    let shardNames: string[];
    let weightMap: Record<string, string> | null = null;
    if (files.includes(INDEX_FILE)) {
      const index = parseJsonObject(new TextEncoder().encode(await readText(tree, INDEX_FILE)), `${label}/${INDEX_FILE}`);
      const wm = index.weight_map;
      if (typeof wm !== 'object' || wm === null || Array.isArray(wm) || !Object.values(wm).every((v) => typeof v === 'string') || Object.keys(wm).length === 0) {
        throw new ChatvecError('weight_map is missing or not a map of tensor name → shard file', { code: 'bad-index', file: `${label}/${INDEX_FILE}`, tensor: 'weight_map', expected: '{"tensor.name": "model-00001-of-00002.safetensors", …}', found: shortJson(wm) });
      }
      weightMap = wm as Record<string, string>;
      shardNames = [...new Set(Object.values(weightMap))].sort();
      for (const s of shardNames) {
        if (!files.includes(s)) {
          const tensor = Object.keys(weightMap).find((k) => weightMap![k] === s);
          throw new ChatvecError('the index names a shard that is not in the folder', { code: 'missing-shard', file: `${label}/${INDEX_FILE}`, tensor, expected: `a file "${s}"`, found: `only ${files.filter((f) => f.endsWith('.safetensors')).join(', ') || 'no .safetensors files'}`, hint: 'Download the missing shard, or fix the index' });
        }
      }
    } else {
      shardNames = files.filter((f) => f.endsWith('.safetensors') && !f.includes('/'));
      if (shardNames.length === 0) {
        throw new ChatvecError('no safetensors weights found', { code: 'no-weights', file: label, expected: `model.safetensors, sharded *.safetensors files, or ${INDEX_FILE}`, found: files.length ? files.slice(0, 8).join(', ') : 'an empty folder', hint: 'Point at the folder that holds the model weights (.bin files must be converted to safetensors first)' });
      }
    }

    const tensors = new Map<string, TensorRef>();
    const shards: SafetensorsHeader[] = [];
    let totalTensorBytes = 0;
    for (const shard of shardNames) {
      const src = await tree.open(shard);
      sources.push(src);
      const header = await readSafetensorsHeader(src);
      shards.push(header);
      for (const t of header.tensors) {
        if (weightMap && weightMap[t.name] !== shard) continue; // tensors the index does not point at are not loaded by HF either
        const prev = tensors.get(t.name);
        if (prev) {
          throw new ChatvecError('tensor appears in two shards', { code: 'duplicate-tensor', file: `${label}/${shard}`, tensor: t.name, expected: 'each tensor in exactly one shard', found: `also in ${prev.file}`, hint: 'Remove the stale shard from the folder' });
        }
        tensors.set(t.name, { ...t, file: shard, source: src });
        totalTensorBytes += t.byteLength;
      }
    }
    if (weightMap) {
      for (const [name, shard] of Object.entries(weightMap)) {
        if (!tensors.has(name)) {
          throw new ChatvecError('the index names a tensor that its shard does not contain', { code: 'tensor-not-in-shard', file: `${label}/${shard}`, tensor: name, expected: `"${name}" in ${shard} as ${INDEX_FILE} says`, found: 'no such tensor in that shard', hint: 'The index and shards come from different revisions; download them again' });
        }
      }
    }
    return { label, config, tensors, shards, sideFiles, totalTensorBytes, close: closeAll };
  } catch (e) {
    await closeAll();
    throw e;
  }
}

export function parseJsonObject(bytes: Uint8Array, file: string): Record<string, unknown> {
  let v: unknown;
  try {
    v = JSON.parse(new TextDecoder().decode(bytes));
  } catch (e) {
    throw new ChatvecError('not valid JSON', { code: 'bad-json', file, expected: 'a JSON object', found: (e as Error).message });
  }
  if (typeof v !== 'object' || v === null || Array.isArray(v)) throw new ChatvecError('not a JSON object', { code: 'bad-json', file, expected: 'a JSON object', found: Array.isArray(v) ? 'an array' : String(v) });
  return v as Record<string, unknown>;
}

/** At most 80 characters of JSON for an error message; never throws (deep nesting overflows JSON.stringify). */
function shortJson(v: unknown): string {
  try {
    return JSON.stringify(v)?.slice(0, 80) ?? 'nothing';
  } catch {
    return Array.isArray(v) ? 'a deeply nested array' : 'a deeply nested object';
  }
}

export function sideJson(ck: Checkpoint, name: string): Record<string, unknown> | null {
  const b = ck.sideFiles.get(name);
  return b ? parseJsonObject(b, `${ck.label}/${name}`) : null;
}

export function parameterCount(ck: Checkpoint): number {
  let n = 0;
  for (const t of ck.tensors.values()) n += t.shape.reduce((a, b) => a * b, 1);
  return n;
}
