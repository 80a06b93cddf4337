import { ChatvecError } from './errors.ts';

/** A scalar, or a gradient: values interpolated over the depth of the model (mergekit's list form). */
export type Gradient = number | number[];
/** mergekit's parameter form: a gradient, or conditional values whose first matching `filter` (substring) wins. */
export type AlphaSetting = Gradient | { filter?: string; value: Gradient }[];

/** One chat vector τ = chat − base, added to cp with weight α. */
export interface ChatVectorSpec {
  base: string;
  chat: string;
  alpha: AlphaSetting;
}

export type EmbeddingPolicy = 'overlap' | 'skip';
export type OutputDtype = 'auto' | 'bf16' | 'f16' | 'f32';

/** The merge recipe: θ = θ_cp + Σ α_i·(θ_chat_i − θ_base_i). Model references are folder paths or Hub ids (`owner/name[@revision]`). */
export interface Recipe {
  cp: string;
  vectors: ChatVectorSpec[];
  /** How to treat embedding/lm_head tensors whose row counts differ (expanded cp vocabulary). */
  embeddings: EmbeddingPolicy;
  /** Globs of tensor names kept from cp unchanged (e.g. `*norm*`). */
  skip: string[];
  dtype: OutputDtype;
  /** Largest output shard in bytes. */
  shardSize: number;
  /** Special tokens whose embedding/lm_head rows are copied from the chat model (e.g. `<|eot_id|>`). */
  copyTokenRows: string[];
}

export const DEFAULT_SHARD_SIZE = 2_000_000_000;

export function defaultRecipe(cp: string, base: string, chat: string, alpha: AlphaSetting = 1): Recipe {
  return { cp, vectors: [{ base, chat, alpha }], embeddings: 'overlap', skip: [], dtype: 'auto', shardSize: DEFAULT_SHARD_SIZE, copyTokenRows: [] };
}

/** Evaluate a gradient at depth t ∈ [0, 1], as mergekit does. */
export function evaluateGradient(g: Gradient, t: number): number {
  if (typeof g === 'number') return g;
  if (g.length === 1) return g[0];
  const scaled = t * (g.length - 1);
  const i0 = Math.floor(scaled);
  const i1 = Math.min(g.length - 1, i0 + 1);
  const frac = scaled - i0;
  return (1 - frac) * g[i0] + frac * g[i1];
}

/** α for one tensor at depth t; null when conditional settings match nothing (then the vector is not applied). */
export function evaluateAlpha(setting: AlphaSetting, tensorName: string, t: number): number | null {
  if (typeof setting === 'number') return setting;
  if (setting.length === 0) return null;
  if (typeof setting[0] === 'number') return evaluateGradient(setting as number[], t);
  for (const cond of setting as { filter?: string; value: Gradient }[]) {
    if (cond.filter === undefined || cond.filter === null || cond.filter === '*' || tensorName.includes(cond.filter)) return evaluateGradient(cond.value, t);
  }
  return null;
}

/** Glob with `*` (any run of characters) and `?` (one character), matched against the whole tensor name. */
export function globToRegExp(glob: string): RegExp {
  const re = glob.replace(/[.+^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*').replace(/\?/g, '.');
  return new RegExp(`^${re}$`);
}

/** Parse a size like `2GB`, `500MB`, `1.5G`, `4096` (bytes). Decimal units, as Hugging Face uses. */
export function parseSize(s: string | number, field = 'shard size'): number {
  if (typeof s === 'number' && Number.isFinite(s) && s > 0) return Math.floor(s);
  const m = /^\s*(\d+(?:\.\d+)?)\s*(B|KB|K|MB|M|GB|G|TB|T|KiB|MiB|GiB)?\s*$/i.exec(String(s));
  if (!m) throw new ChatvecError('not a size', { code: 'bad-size', tensor: field, expected: 'a number of bytes or e.g. 500MB, 2GB', found: JSON.stringify(s) });
  const unit = (m[2] ?? 'B').toUpperCase();
  const mult: Record<string, number> = { B: 1, K: 1e3, KB: 1e3, M: 1e6, MB: 1e6, G: 1e9, GB: 1e9, T: 1e12, TB: 1e12, KIB: 1024, MIB: 1024 ** 2, GIB: 1024 ** 3 };
  const n = Math.floor(Number(m[1]) * mult[unit]);
  if (n <= 0) throw new ChatvecError('size must be positive', { code: 'bad-size', tensor: field, expected: 'more than 0 bytes', found: String(s) });
  return n;
}
