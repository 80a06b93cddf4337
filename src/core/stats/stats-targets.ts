import { isVocabTensor } from '../arch.ts';
import type { TensorRef } from '../checkpoint.ts';
import { isFloatDtype } from '../dtype.ts';
import type { MergeInputs, MergePlan } from '../plan.ts';
import { elementCount } from '../safetensors/header.ts';

/** One tensor whose chat vector is measured: elements [0, elements) of base, chat and cp line up. */
export interface StatsTarget {
  name: string;
  cp: TensorRef;
  base: TensorRef;
  chat: TensorRef;
  /** Elements compared: the whole tensor, or the shared rows of a vocabulary tensor. */
  elements: number;
  /** Rows compared when fewer than cp's rows (vocabulary tensors of different sizes); null for whole tensors. */
  sharedRows: number | null;
  /** What the merge does with the tensor, from the plan. */
  action: 'merge' | 'copy';
  reason: string;
}

export interface NotCompared {
  name: string;
  reason: string;
}

export interface StatsTargets {
  /** Which chat vector of the inputs (0-based). */
  vector: number;
  /** In plan order (cp's file order). */
  compared: StatsTarget[];
  notCompared: NotCompared[];
}

/**
 * Which tensors of chat vector `vector` can be compared with cp − base, and over which elements.
 * Copied and skipped tensors are compared too, when base, chat and cp all have them; the plan only
 * supplies each tensor's action and reason.
 */
export function statsTargets(inputs: MergeInputs, plan: MergePlan, vector: number): StatsTargets {
  const { base, chat } = inputs.vectors[vector];
  const compared: StatsTarget[] = [];
  const notCompared: NotCompared[] = [];
  for (const e of plan.entries) {
    const b = base.tensors.get(e.name), c = chat.tensors.get(e.name), p = e.cp;
    if (!b || !c) {
      notCompared.push({ name: e.name, reason: `not in ${!b && !c ? 'base or chat' : !b ? 'base' : 'chat'}` });
      continue;
    }
    if (!isFloatDtype(p.dtype) || !isFloatDtype(b.dtype) || !isFloatDtype(c.dtype)) {
      notCompared.push({ name: e.name, reason: `not a float tensor (cp ${p.dtype}, base ${b.dtype}, chat ${c.dtype})` });
      continue;
    }
    const rows = sharedRows(e.name, p.shape, b.shape, c.shape);
    if (rows === undefined) {
      notCompared.push({ name: e.name, reason: `shapes differ: cp ${fmt(p.shape)}, base ${fmt(b.shape)}, chat ${fmt(c.shape)}` });
      continue;
    }
    const elements = rows === null ? elementCount(p.shape) : rows * p.shape[1];
    compared.push({ name: e.name, cp: p, base: b, chat: c, elements, sharedRows: rows, action: e.action, reason: e.reason });
  }
  const inCp = new Set(plan.entries.map((e) => e.name));
  for (const name of [...new Set([...base.tensors.keys(), ...chat.tensors.keys()])].sort()) {
    if (!inCp.has(name)) notCompared.push({ name, reason: 'not in cp' });
  }
  return { vector, compared, notCompared };
}

/**
 * null: one shape, the whole tensor lines up. A number: rows the three share, for vocabulary
 * tensors only (their rows are token ids, so row i means the same in all three). undefined: no match.
 */
function sharedRows(name: string, cp: number[], base: number[], chat: number[]): number | null | undefined {
  const key = cp.join('x');
  if (base.join('x') === key && chat.join('x') === key) return null;
  const cols = (s: number[]) => s.slice(1).join('x');
  if (!isVocabTensor(name) || ![cp, base, chat].every((s) => s.length === 2 && cols(s) === cols(cp))) return undefined;
  return Math.min(cp[0], base[0], chat[0]);
}

const fmt = (s: number[]) => `[${s.join(', ')}]`;
