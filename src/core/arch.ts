/** Architecture facts as data: which tensors are embeddings, where layer numbers are, what module a tensor is. */

/** Input embeddings ("pre" weights: mergekit evaluates gradients at t = 0 for them). */
export const INPUT_EMBEDDING_PATTERNS: RegExp[] = [
  /(^|\.)embed_tokens\.weight$/, /(^|\.)wte\.weight$/, /(^|\.)word_embeddings\.weight$/, /^tok_embeddings\.weight$/, /(^|\.)embed_in\.weight$/,
];
/** Output projections over the vocabulary (evaluated at t = 1, like every other "post" weight). */
export const OUTPUT_EMBEDDING_PATTERNS: RegExp[] = [/^lm_head\.weight$/, /(^|\.)embed_out\.weight$/, /^output\.weight$/];

/** Layer index patterns, tried in order. */
const LAYER_PATTERNS: RegExp[] = [/\.layers\.(\d+)\./, /\.h\.(\d+)\./, /\.blocks\.(\d+)\./, /^layers\.(\d+)\./];

/** Config fields that must agree between base, chat and cp. */
export const CONFIG_MUST_MATCH = ['model_type', 'hidden_size', 'num_hidden_layers', 'num_attention_heads', 'num_key_value_heads', 'intermediate_size', 'head_dim'] as const;

/** Module types for per-module aggregation and the `norms` preset, by tensor name. */
export const MODULE_TYPES: [string, RegExp][] = [
  ['q', /q_proj/], ['k', /k_proj/], ['v', /v_proj/], ['o', /o_proj/],
  ['gate', /gate_proj/], ['up', /up_proj/], ['down', /down_proj/],
  ['norm', /norm/], ['embedding', /embed|wte|lm_head/],
];

export function isInputEmbedding(name: string): boolean {
  return INPUT_EMBEDDING_PATTERNS.some((r) => r.test(name));
}
export function isOutputEmbedding(name: string): boolean {
  return OUTPUT_EMBEDDING_PATTERNS.some((r) => r.test(name));
}
export function isVocabTensor(name: string): boolean {
  return isInputEmbedding(name) || isOutputEmbedding(name);
}

export function layerIndex(name: string): number | null {
  for (const r of LAYER_PATTERNS) {
    const m = r.exec(name);
    if (m) return Number(m[1]);
  }
  return null;
}

export function moduleType(name: string): string {
  for (const [type, r] of MODULE_TYPES) if (r.test(name)) return type;
  return 'other';
}

/**
 * Where a tensor sits along the depth of the model, in [0, 1], as mergekit computes `t` for gradients:
 * layer i of N at i/(N−1) (1 when N = 1), input embeddings at 0, every other non-layer weight at 1.
 */
export function depthPosition(name: string, numLayers: number): number {
  const i = layerIndex(name);
  if (i !== null) return numLayers > 1 ? Math.min(1, i / (numLayers - 1)) : 1;
  return isInputEmbedding(name) ? 0 : 1;
}
