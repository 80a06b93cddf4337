import { CONFIG_MUST_MATCH, isVocabTensor, depthPosition } from './arch.ts';
import type { Checkpoint, TensorRef } from './checkpoint.ts';
import { DTYPE_NAMES, dtypeSize, isFloatDtype, type Dtype } from './dtype.ts';
import { ChatvecError } from './errors.ts';
import { evaluateAlpha, globToRegExp, type Recipe } from './recipe.ts';
import { validateRecipe } from './recipe-io.ts';
import { elementCount } from './safetensors/header.ts';
import { tokenId } from './tokenizer-ids.ts';

/** The loaded models a recipe names: one cp and, per chat vector, its base and chat. */
export interface MergeInputs {
  cp: Checkpoint;
  vectors: { base: Checkpoint; chat: Checkpoint }[];
}

export interface MergeTerm {
  base: TensorRef;
  chat: TensorRef;
  /** α for this tensor, already rounded to f32 (the arithmetic is f32). */
  alpha: number;
}

export interface RowPatch {
  /** Row of the output tensor that is replaced. */
  row: number;
  source: TensorRef;
  sourceRow: number;
  token: string;
}

export interface PlanEntry {
  name: string;
  action: 'merge' | 'copy';
  /** Why: `merged`, `rows 0–N merged`, `skip pattern *norm*`, `only in cp`, … */
  reason: string;
  cp: TensorRef;
  shape: number[];
  outDtype: Dtype;
  outBytes: number;
  terms: MergeTerm[];
  /** For vocabulary tensors under the overlap policy: rows [0, mergeRows) are merged, the rest copied from cp. */
  mergeRows?: number;
  rowPatches: RowPatch[];
  /** Non-float tensors: (base, chat) pairs whose bytes must be equal for the copy from cp to be right. */
  nonFloatCheck?: [TensorRef, TensorRef][];
}

export type Severity = 'error' | 'warning' | 'info';
export interface PlanIssue {
  severity: Severity;
  code: string;
  message: string;
  tensors: string[];
  hint?: string;
}

export interface MergePlan {
  entries: PlanEntry[];
  issues: PlanIssue[];
  numLayers: number;
  totalOutputBytes: number;
  counts: { merged: number; mergedRows: number; copied: number; parameters: number };
}

export function hasErrors(plan: MergePlan): boolean {
  return plan.issues.some((i) => i.severity === 'error');
}

/** Align cp with every (base, chat) pair by tensor name and decide what happens to each tensor. Reads no weights. */
export function planMerge(inputs: MergeInputs, recipe: Recipe): MergePlan {
  const issues: PlanIssue[] = [];
  const issue = (severity: Severity, code: string, message: string, tensors: string[] = [], hint?: string) => issues.push({ severity, code, message, tensors, hint });
  validateRecipe(recipe);
  const { cp } = inputs;
  if (inputs.vectors.length !== recipe.vectors.length) throw new Error('internal: inputs and recipe disagree on the number of chat vectors');

  checkConfigs(inputs, issue);
  const numLayers = numberOfLayers(cp);
  const skipRes = recipe.skip.map((g) => [g, globToRegExp(g)] as const);
  const outDtypeFor = (d: Dtype): Dtype => (recipe.dtype === 'auto' || !isFloatDtype(d) ? d : DTYPE_NAMES[recipe.dtype]);
  const patches = rowPatchesFor(inputs, recipe, issue);

  const entries: PlanEntry[] = [];
  const shapeErrors: string[] = [];
  const nonFloatMismatch: string[] = [];
  const onlyInCp: string[] = [];
  const vocabKept: string[] = [];
  const unmatchedAlpha: string[] = [];
  for (const t of orderedTensors(cp)) {
    const outDtype = outDtypeFor(t.dtype);
    const base: PlanEntry = { name: t.name, action: 'copy', reason: '', cp: t, shape: t.shape, outDtype, outBytes: elementCount(t.shape) * dtypeSize(outDtype), terms: [], rowPatches: patches.get(t.name) ?? [] };
    entries.push(base);
    const skip = skipRes.find(([, re]) => re.test(t.name));
    if (skip) {
      base.reason = `skip pattern ${skip[0]}`;
      continue;
    }
    const pairs = inputs.vectors.map((v) => ({ b: v.base.tensors.get(t.name), c: v.chat.tensors.get(t.name) }));
    if (pairs.some((p) => !p.b || !p.c)) {
      onlyInCp.push(t.name);
      base.reason = 'only in cp';
      continue;
    }
    if (!isFloatDtype(t.dtype) || pairs.some((p) => !isFloatDtype(p.b!.dtype) || !isFloatDtype(p.c!.dtype))) {
      // Integer/bool buffers are copied; that is only sound when the chat vector does not touch them.
      if (pairs.some((p) => p.b!.dtype !== p.c!.dtype || p.b!.shape.join() !== p.c!.shape.join())) nonFloatMismatch.push(t.name);
      base.reason = 'not a float tensor: copied from cp';
      base.nonFloatCheck = pairs.map((p) => [p.b!, p.c!] as [TensorRef, TensorRef]);
      continue;
    }
    const sameShape = pairs.every((p) => sameDims(p.b!.shape, t.shape) && sameDims(p.c!.shape, t.shape));
    let mergeRows: number | undefined;
    if (!sameShape) {
      const cols = t.shape.slice(1).join('x');
      const vocabOk = isVocabTensor(t.name) && t.shape.length === 2 && pairs.every((p) => p.b!.shape.length === 2 && p.c!.shape.length === 2 && p.b!.shape.slice(1).join('x') === cols && p.c!.shape.slice(1).join('x') === cols);
      if (!vocabOk) {
        shapeErrors.push(`${t.name}: cp ${fmtShape(t.shape)}, ${pairs.map((p, i) => `base${suffix(i, pairs.length)} ${fmtShape(p.b!.shape)}, chat${suffix(i, pairs.length)} ${fmtShape(p.c!.shape)}`).join(', ')}`);
        base.reason = 'shape mismatch';
        continue;
      }
      if (recipe.embeddings === 'skip') {
        vocabKept.push(t.name);
        base.reason = 'vocabulary differs: kept from cp (embeddings policy skip)';
        continue;
      }
      mergeRows = Math.min(t.shape[0], ...pairs.flatMap((p) => [p.b!.shape[0], p.c!.shape[0]]));
    }
    const pos = depthPosition(t.name, numLayers);
    const terms: MergeTerm[] = [];
    pairs.forEach((p, i) => {
      const a = evaluateAlpha(recipe.vectors[i].alpha, t.name, pos);
      if (a === null) return;
      terms.push({ base: p.b!, chat: p.c!, alpha: Math.fround(a) });
    });
    if (terms.length === 0) {
      unmatchedAlpha.push(t.name);
      base.reason = 'no α filter matches: copied from cp';
      continue;
    }
    base.action = 'merge';
    base.terms = terms;
    if (mergeRows !== undefined) {
      base.mergeRows = mergeRows;
      base.reason = `rows 0–${mergeRows - 1} merged, rows ${mergeRows}–${t.shape[0] - 1} kept from cp`;
    } else base.reason = 'merged';
  }

  if (shapeErrors.length) issue('error', 'shape-mismatch', `${shapeErrors.length} tensor(s) have different shapes in base, chat and cp and are not embeddings`, shapeErrors, 'Base, chat and cp must share one architecture; check that cp was continually pretrained from this base');
  if (nonFloatMismatch.length) issue('error', 'non-float-mismatch', 'non-float tensors differ in dtype or shape between base and chat, so they cannot be copied from cp', nonFloatMismatch);
  if (onlyInCp.length) issue('warning', 'only-in-cp', `${onlyInCp.length} tensor(s) exist only in cp and are copied unchanged`, onlyInCp);
  if (vocabKept.length) issue('info', 'vocab-kept', 'vocabulary sizes differ; embeddings policy "skip" keeps cp\'s tensors unchanged', vocabKept, 'Use the overlap policy to add α·τ to the rows all three models share');
  if (unmatchedAlpha.length) issue('warning', 'alpha-unmatched', 'no α filter matches these tensors, so no chat vector is added to them', unmatchedAlpha, 'Add a catch-all entry (no filter) to the α list');
  const rowMerged = entries.filter((e) => e.mergeRows !== undefined);
  if (rowMerged.length) {
    const rows = [...new Set(rowMerged.map((e) => e.mergeRows))];
    issue('info', 'vocab-overlap', `vocabulary sizes differ; α·τ is added to the ${rows.length === 1 ? `${rows[0]} rows` : 'rows'} all models share, cp's other rows are kept bit-exact`, rowMerged.map((e) => `${e.name}: ${e.reason}`));
  }
  const cpNames = new Set(cp.tensors.keys());
  inputs.vectors.forEach((v, i) => {
    const missing = [...new Set([...v.base.tensors.keys(), ...v.chat.tensors.keys()])].filter((n) => !cpNames.has(n)).sort();
    if (missing.length) issue('warning', 'missing-in-cp', `${missing.length} tensor(s) of base/chat${suffix(i, inputs.vectors.length)} are not in cp and will not be in the output`, missing, missing.includes('lm_head.weight') && cp.config?.tie_word_embeddings === true ? 'cp ties its input and output embeddings, so lm_head comes from model.embed_tokens' : undefined);
  });

  const totalOutputBytes = entries.reduce((a, e) => a + e.outBytes, 0);
  const merged = entries.filter((e) => e.action === 'merge');
  return {
    entries,
    issues,
    numLayers,
    totalOutputBytes,
    counts: { merged: merged.length - rowMerged.length, mergedRows: rowMerged.length, copied: entries.length - merged.length, parameters: entries.reduce((a, e) => a + elementCount(e.shape), 0) },
  };
}

function checkConfigs(inputs: MergeInputs, issue: (s: Severity, code: string, msg: string, tensors?: string[], hint?: string) => void) {
  const models: [string, Checkpoint][] = [['cp', inputs.cp]];
  inputs.vectors.forEach((v, i) => models.push([`base${suffix(i, inputs.vectors.length)}`, v.base], [`chat${suffix(i, inputs.vectors.length)}`, v.chat]));
  const missing = models.filter(([, c]) => !c.config).map(([role, c]) => `${role} (${c.label})`);
  if (missing.length) issue('warning', 'no-config', 'config.json is missing, so architectures cannot be compared', missing, 'Add config.json; the output also needs one to be loadable');
  const withConfig = models.filter(([, c]) => c.config);
  const diffs: string[] = [];
  for (const key of CONFIG_MUST_MATCH) {
    const values = withConfig.map(([role, c]) => [role, c.config![key]] as const).filter(([, v]) => v !== undefined);
    if (new Set(values.map(([, v]) => JSON.stringify(v))).size > 1) diffs.push(`${key}: ${values.map(([r, v]) => `${r}=${JSON.stringify(v)}`).join(', ')}`);
  }
  if (diffs.length) issue('error', 'config-mismatch', 'config.json values differ between the models', diffs, 'A chat vector only transfers between models of one architecture: base, chat and cp must come from the same pretrained model');
}

function rowPatchesFor(inputs: MergeInputs, recipe: Recipe, issue: (s: Severity, code: string, msg: string, tensors?: string[], hint?: string) => void): Map<string, RowPatch[]> {
  const out = new Map<string, RowPatch[]>();
  if (recipe.copyTokenRows.length === 0) return out;
  const chat = inputs.vectors[0].chat;
  const lines: string[] = [];
  for (const token of recipe.copyTokenRows) {
    const cpId = tokenId(inputs.cp, token);
    const chatId = tokenId(chat, token);
    for (const [name, t] of inputs.cp.tensors) {
      if (!isVocabTensor(name)) continue;
      const src = chat.tensors.get(name);
      if (!src) continue;
      if (!isFloatDtype(src.dtype) || !isFloatDtype(t.dtype) || src.shape.length !== 2 || t.shape.length !== 2 || src.shape[1] !== t.shape[1]) {
        throw new ChatvecError('cannot copy a token row between tensors of different widths', { code: 'copy-row-shape', tensor: name, expected: `rows of ${t.shape[1]} values in chat`, found: fmtShape(src.shape) });
      }
      if (cpId >= t.shape[0] || chatId >= src.shape[0]) {
        throw new ChatvecError('token id is outside the embedding rows', { code: 'copy-row-range', tensor: name, expected: `cp id ${cpId} < ${t.shape[0]} and chat id ${chatId} < ${src.shape[0]}`, found: `${fmtShape(t.shape)} in cp, ${fmtShape(src.shape)} in chat`, hint: `Check the tokenizer files for "${token}"` });
      }
      const list = out.get(name) ?? [];
      list.push({ row: cpId, source: src, sourceRow: chatId, token });
      out.set(name, list);
      lines.push(`${name}[${cpId}] ← chat ${name}[${chatId}] (${token})`);
    }
  }
  issue('info', 'copy-token-rows', `rows of ${recipe.copyTokenRows.length} special token(s) are copied from the chat model`, lines);
  return out;
}

/** cp's tensors in file order (shard, then offset), so cp is read front to back. */
function orderedTensors(cp: Checkpoint): TensorRef[] {
  return [...cp.tensors.values()].sort((a, b) => (a.file < b.file ? -1 : a.file > b.file ? 1 : a.offset - b.offset));
}

function numberOfLayers(cp: Checkpoint): number {
  const n = cp.config?.num_hidden_layers;
  if (typeof n === 'number' && Number.isInteger(n) && n > 0) return n;
  let max = -1;
  for (const name of cp.tensors.keys()) {
    const m = /\.layers\.(\d+)\./.exec(name);
    if (m) max = Math.max(max, Number(m[1]));
  }
  return max + 1;
}

const sameDims = (a: number[], b: number[]) => a.length === b.length && a.every((d, i) => d === b[i]);
const fmtShape = (s: number[]) => `[${s.join(', ')}]`;
const suffix = (i: number, n: number) => (n > 1 ? ` #${i + 1}` : '');
