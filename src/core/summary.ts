import { parameterCount, sideJson, type Checkpoint } from './checkpoint.ts';

/** What a model is, from config.json and the safetensors headers only (no weights read). */
export interface CheckpointSummary {
  label: string;
  architecture: string | null;
  modelType: string | null;
  hiddenSize: number | null;
  layers: number | null;
  heads: number | null;
  kvHeads: number | null;
  intermediateSize: number | null;
  vocabSize: number | null;
  tiedEmbeddings: boolean;
  parameters: number;
  tensorCount: number;
  /** Tensor count per safetensors dtype, most common first. */
  dtypes: { dtype: string; count: number }[];
  /** Bytes of the safetensors files (headers included). */
  weightFileBytes: number;
  chatTemplate: boolean;
}

export function summarizeCheckpoint(ck: Checkpoint): CheckpointSummary {
  const cfg = ck.config ?? {};
  const num = (k: string) => (typeof cfg[k] === 'number' ? (cfg[k] as number) : null);
  const dtypeCounts = new Map<string, number>();
  for (const t of ck.tensors.values()) dtypeCounts.set(t.dtype, (dtypeCounts.get(t.dtype) ?? 0) + 1);
  const architectures = cfg.architectures;
  let chatTemplate = ck.sideFiles.has('chat_template.jinja');
  try {
    chatTemplate ||= !!sideJson(ck, 'tokenizer_config.json')?.chat_template;
  } catch {
    /* an unreadable tokenizer_config.json has no usable template */
  }
  return {
    label: ck.label,
    architecture: Array.isArray(architectures) && typeof architectures[0] === 'string' ? architectures[0] : null,
    modelType: typeof cfg.model_type === 'string' ? cfg.model_type : null,
    hiddenSize: num('hidden_size'),
    layers: num('num_hidden_layers'),
    heads: num('num_attention_heads'),
    kvHeads: num('num_key_value_heads'),
    intermediateSize: num('intermediate_size'),
    vocabSize: num('vocab_size'),
    tiedEmbeddings: cfg.tie_word_embeddings === true,
    parameters: parameterCount(ck),
    tensorCount: ck.tensors.size,
    dtypes: [...dtypeCounts].map(([dtype, count]) => ({ dtype, count })).sort((a, b) => b.count - a.count || (a.dtype < b.dtype ? -1 : 1)),
    weightFileBytes: ck.shards.reduce((a, s) => a + s.fileSize, 0),
    chatTemplate,
  };
}
