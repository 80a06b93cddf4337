import { sideJson, type Checkpoint } from './checkpoint.ts';
import { TORCH_DTYPE, isFloatDtype, type FloatDtype } from './dtype.ts';
import type { MergeInputs, MergePlan } from './plan.ts';
import type { Recipe } from './recipe.ts';
import { recipeToJson, recipeToMergekitYaml } from './recipe-io.ts';
import { tokenId } from './tokenizer-ids.ts';
import { TOOL_NAME, TOOL_VERSION } from './version.ts';

export interface SideFiles {
  files: Map<string, Uint8Array>;
  /** What was carried over, and from where, for the report and the model card. */
  notes: string[];
}

/** What each input is, for the model card: where it came from and how big it is. */
export interface InputDescription {
  role: string;
  ref: string;
  revision?: string;
  bytes: number;
  tensors: number;
}

const COPIED_FROM_CP = ['tokenizer.json', 'tokenizer.model', 'vocab.json', 'merges.txt', 'added_tokens.json'];

/** The non-weight files of the merged checkpoint: cp's config and tokenizer, with the chat model's template and eos. */
export function buildSideFiles(inputs: MergeInputs, recipe: Recipe, plan: MergePlan, described: InputDescription[]): SideFiles {
  const { cp } = inputs;
  const chat = inputs.vectors[0].chat;
  const files = new Map<string, Uint8Array>();
  const notes: string[] = [];
  const json = (v: unknown) => new TextEncoder().encode(JSON.stringify(v, null, 2) + '\n');

  for (const name of COPIED_FROM_CP) {
    const b = cp.sideFiles.get(name);
    if (b) files.set(name, b);
  }

  // Chat template and eos token come from the chat model (as the official Chat Vector scripts do).
  const chatTok = sideJson(chat, 'tokenizer_config.json') ?? {};
  const cpTok = sideJson(cp, 'tokenizer_config.json');
  const template = chatTok.chat_template ?? (chat.sideFiles.has('chat_template.jinja') ? undefined : null);
  const chatEos = tokenString(chatTok.eos_token);
  let eosId: number | null = null;
  if (chatEos) {
    try {
      eosId = tokenId(cp, chatEos);
    } catch {
      notes.push(`warning: the chat model's eos token ${chatEos} is not in cp's tokenizer; eos is left as cp has it`);
    }
  }
  if (cpTok) {
    const out = { ...cpTok };
    if (typeof template === 'string' || Array.isArray(template)) {
      out.chat_template = template;
      notes.push(`chat_template taken from the chat model (${chat.label})`);
    } else if (chat.sideFiles.has('chat_template.jinja')) {
      delete out.chat_template;
      files.set('chat_template.jinja', chat.sideFiles.get('chat_template.jinja')!);
      notes.push(`chat_template.jinja taken from the chat model (${chat.label})`);
    } else {
      notes.push(`warning: the chat model (${chat.label}) has no chat template; the output has ${cpTok.chat_template ? "cp's" : 'none'}`);
    }
    if (chatEos && eosId !== null) {
      out.eos_token = chatTok.eos_token;
      notes.push(`eos_token ${chatEos} taken from the chat model (id ${eosId} in cp's tokenizer)`);
    }
    files.set('tokenizer_config.json', json(out));
  } else {
    notes.push(`warning: cp (${cp.label}) has no tokenizer_config.json; the output has no chat template`);
  }
  const stm = sideJson(cp, 'special_tokens_map.json');
  if (stm) files.set('special_tokens_map.json', json(chatEos && eosId !== null ? { ...stm, eos_token: chatTok.eos_token } : stm));

  const dtype = outputTorchDtype(plan);
  if (cp.config) {
    const cfg: Record<string, unknown> = { ...cp.config };
    if (dtype) cfg.torch_dtype = dtype;
    if (eosId !== null) cfg.eos_token_id = eosIds(cp.config.eos_token_id, eosId);
    files.set('config.json', json(cfg));
  }
  const gen = sideJson(cp, 'generation_config.json') ?? (cp.config ? { bos_token_id: cp.config.bos_token_id, eos_token_id: cp.config.eos_token_id } : null);
  if (gen) files.set('generation_config.json', json(eosId !== null ? { ...gen, eos_token_id: eosIds(gen.eos_token_id, eosId) } : gen));

  files.set('chatvec-recipe.json', new TextEncoder().encode(recipeToJson(recipe)));
  try {
    files.set('mergekit_config.yml', new TextEncoder().encode(recipeToMergekitYaml(recipe, { cpDtype: dtype ? dtypeName(dtype) : undefined })));
  } catch (e) {
    notes.push(`warning: no mergekit config written: ${(e as Error).message}`);
  }
  files.set('README.md', new TextEncoder().encode(modelCard(recipe, plan, described, notes, dtype)));
  return { files, notes };
}

/** Keep cp's eos ids and add the chat eos, so generation stops on either. */
function eosIds(existing: unknown, chatEos: number): number | number[] {
  const list = Array.isArray(existing) ? existing.filter((x): x is number => typeof x === 'number') : typeof existing === 'number' ? [existing] : [];
  if (list.includes(chatEos)) return list.length === 1 ? list[0] : list;
  return list.length === 0 ? chatEos : [chatEos, ...list];
}

function tokenString(t: unknown): string | null {
  if (typeof t === 'string') return t;
  if (t && typeof t === 'object' && typeof (t as { content?: unknown }).content === 'string') return (t as { content: string }).content;
  return null;
}

function outputTorchDtype(plan: MergePlan): string | null {
  const bytes = new Map<FloatDtype, number>();
  for (const e of plan.entries) if (isFloatDtype(e.outDtype)) bytes.set(e.outDtype, (bytes.get(e.outDtype) ?? 0) + e.outBytes);
  const top = [...bytes].sort((a, b) => b[1] - a[1])[0];
  return top ? TORCH_DTYPE[top[0]] : null;
}
const dtypeName = (torch: string) => ({ bfloat16: 'bf16', float16: 'f16', float32: 'f32' })[torch] as 'bf16' | 'f16' | 'f32';

function modelCard(recipe: Recipe, plan: MergePlan, inputs: InputDescription[], notes: string[], dtype: string | null): string {
  const alphaText = (a: unknown) => JSON.stringify(a);
  const bases = [...new Set(recipe.vectors.map((v) => v.base))];
  const lines = [
    '---',
    'library_name: transformers',
    'tags:',
    '- merge',
    '- chat-vector',
    'base_model:',
    ...[recipe.cp, ...recipe.vectors.map((v) => v.chat), ...bases].filter((v, i, a) => a.indexOf(v) === i).map((m) => `- ${m}`),
    '---',
    '',
    `# Chat Vector merge of ${recipe.cp}`,
    '',
    `Made with ${TOOL_NAME} ${TOOL_VERSION} by the Chat Vector method (arXiv 2310.04799):`,
    '',
    '    θ = θ_cp + Σ α·(θ_chat − θ_base)',
    '',
    'computed in float32 in that order, then rounded to nearest even into the output dtype.',
    '',
    '## Recipe',
    '',
    `- cp (continually pretrained): \`${recipe.cp}\``,
    ...recipe.vectors.map((v, i) => `- chat vector${recipe.vectors.length > 1 ? ` ${i + 1}` : ''}: \`${v.chat}\` − \`${v.base}\`, α = ${alphaText(v.alpha)}`),
    `- embeddings whose vocabulary differs: ${recipe.embeddings === 'overlap' ? 'α·τ added to the rows all models share, cp\'s extra rows kept' : "cp's tensors kept (skip)"}`,
    `- tensors kept from cp: ${recipe.skip.length ? recipe.skip.map((s) => `\`${s}\``).join(', ') : 'none'}`,
    `- special-token rows copied from chat: ${recipe.copyTokenRows.length ? recipe.copyTokenRows.map((s) => `\`${s}\``).join(', ') : 'none'}`,
    `- output dtype: ${recipe.dtype === 'auto' ? `as cp (${dtype ?? 'n/a'})` : recipe.dtype}`,
    `- tensors: ${plan.counts.merged} merged, ${plan.counts.mergedRows} merged on shared rows, ${plan.counts.copied} copied from cp; ${plan.counts.parameters.toLocaleString('en-US')} parameters`,
    '',
    '## Inputs',
    '',
    '| role | model | revision | size (bytes) | tensors |',
    '| --- | --- | --- | --- | --- |',
    ...inputs.map((i) => `| ${i.role} | \`${i.ref}\` | ${i.revision ?? '—'} | ${i.bytes} | ${i.tensors} |`),
    '',
    '## Notes',
    '',
    ...(notes.length ? notes.map((n) => `- ${n}`) : ['- none']),
    ...plan.issues.filter((i) => i.severity !== 'info').map((i) => `- ${i.severity}: ${i.message}`),
    '',
    'The recipe is in `chatvec-recipe.json`; `mergekit_config.yml` expresses the same merge for mergekit (`task_arithmetic`).',
    '',
  ];
  return lines.join('\n');
}

export function describeInput(role: string, ref: string, ck: Checkpoint, revision?: string): InputDescription {
  return { role, ref, revision, bytes: ck.shards.reduce((a, s) => a + s.fileSize, 0), tensors: ck.tensors.size };
}

