/**
 * The α editor of one chat vector and how it maps to the recipe's AlphaSetting:
 * a constant, a per-layer curve (mergekit's gradient list), and optional per-module overrides
 * (`[{filter, value}, …, {value}]`, first matching filter wins).
 */
import { evaluateGradient, type AlphaSetting, type Gradient } from '../../core/recipe.ts';
import { formatNumber } from '../format.ts';

export const ALPHA_MIN = -1;
export const ALPHA_MAX = 2;
export const ALPHA_STEP = 0.05;
export const ALPHA_PAGE_STEP = 0.25;

export interface AlphaOverride {
  /** Substring of tensor names, e.g. `self_attn` or `mlp`. */
  filter: string;
  value: Gradient;
}

export interface AlphaEditor {
  mode: 'constant' | 'curve';
  constant: number;
  /** Control points spread evenly from the first layer to the last; at least two. */
  curve: number[];
  overrides: AlphaOverride[];
  /** With overrides: what tensors no filter matches get: the α above, or no chat vector at all. */
  others: 'alpha' | 'unchanged';
}

export function constantAlpha(alpha: number): AlphaEditor {
  return { mode: 'constant', constant: alpha, curve: [alpha, alpha], overrides: [], others: 'alpha' };
}

/** The recipe's α for this editor. Overrides without a filter are still being typed and are left out. */
export function alphaSetting(editor: AlphaEditor): AlphaSetting {
  const main: Gradient = editor.mode === 'constant' ? editor.constant : [...editor.curve];
  const active = editor.overrides.filter((o) => o.filter.trim() !== '');
  if (active.length === 0) return main;
  const conds = active.map((o) => ({ filter: o.filter.trim(), value: copyGradient(o.value) }));
  return editor.others === 'alpha' ? [...conds, { value: main }] : conds;
}

/**
 * The editor that shows `setting` exactly: a one-point gradient is a constant, and conditional entries after
 * the first catch-all (no filter, `*` or ``) can never match, so they are not shown.
 */
export function alphaEditorFrom(setting: AlphaSetting): AlphaEditor {
  if (typeof setting === 'number') return constantAlpha(setting);
  if (setting.length > 0 && typeof setting[0] === 'number') return gradientEditor(setting as number[]);
  const conds = setting as { filter?: string; value: Gradient }[];
  const catchAll = conds.findIndex((c) => c.filter === undefined || c.filter === null || c.filter === '*' || c.filter === '');
  const overrides = (catchAll < 0 ? conds : conds.slice(0, catchAll)).map((c) => ({ filter: c.filter as string, value: copyGradient(c.value) }));
  const main = catchAll < 0 ? constantAlpha(1) : gradientEditor(conds[catchAll].value);
  return { ...main, overrides, others: catchAll < 0 ? 'unchanged' : 'alpha' };
}

function gradientEditor(g: Gradient): AlphaEditor {
  if (typeof g === 'number') return constantAlpha(g);
  if (g.length === 1) return constantAlpha(g[0]);
  return { mode: 'curve', constant: g[0], curve: [...g], overrides: [], others: 'alpha' };
}

function copyGradient(g: Gradient): Gradient {
  return typeof g === 'number' ? g : [...g];
}

/** α of each layer 0…numLayers−1 under a curve, as the merge plan evaluates it (depth i / (numLayers − 1)). */
export function curveAtLayers(curve: number[], numLayers: number): number[] {
  return Array.from({ length: numLayers }, (_, i) => evaluateGradient(curve, numLayers > 1 ? i / (numLayers - 1) : 1));
}

/** A value on the α grid without float noise (0.1 + 0.05 is 0.15, not 0.15000000000000002). */
export function roundAlpha(v: number): number {
  return Number(v.toFixed(6));
}

export function clampAlpha(v: number): number {
  return Math.min(ALPHA_MAX, Math.max(ALPHA_MIN, v));
}

/** The α a slider key moves to, or null for keys the slider does not handle. */
export function alphaAfterKey(key: string, alpha: number): number | null {
  const deltas: Record<string, number> = { ArrowRight: ALPHA_STEP, ArrowUp: ALPHA_STEP, ArrowLeft: -ALPHA_STEP, ArrowDown: -ALPHA_STEP, PageUp: ALPHA_PAGE_STEP, PageDown: -ALPHA_PAGE_STEP };
  if (key === 'Home') return ALPHA_MIN;
  if (key === 'End') return ALPHA_MAX;
  const delta = deltas[key];
  return delta === undefined ? null : clampAlpha(roundAlpha(alpha + delta));
}

/** α typed into a field, or why it is not usable. */
export function parseAlpha(text: string): number | string {
  if (text.trim() === '') return 'Enter a value for α.';
  const alpha = Number(text);
  if (!Number.isFinite(alpha)) return `α must be a number, not "${text}".`;
  if (alpha < ALPHA_MIN || alpha > ALPHA_MAX) return `α must be between ${formatNumber(ALPHA_MIN)} and ${formatNumber(ALPHA_MAX)}.`;
  return alpha;
}

/** An override's value typed as `0.5` (constant) or `0, 0.5, 1` (a curve over the layers), or why it is not usable. */
export function parseGradient(text: string): Gradient | string {
  const parts = text.split(',').map((p) => p.trim());
  const values: number[] = [];
  for (const p of parts) {
    const v = parseAlpha(p);
    if (typeof v === 'string') return parts.length > 1 ? `Each value: ${v}` : v;
    values.push(v);
  }
  return values.length === 1 ? values[0] : values;
}

export function formatGradient(g: Gradient): string {
  return typeof g === 'number' ? String(g) : g.map(String).join(', ');
}

/** How a recipe's α reads in one line: `1`, `curve 0 → 0.5 → 1`, `self_attn 0.5, others 1`. */
export function describeAlpha(setting: AlphaSetting): string {
  const gradient = (g: Gradient) => (typeof g === 'number' ? formatNumber(g) : `curve ${g.map(formatNumber).join(' → ')}`);
  if (typeof setting === 'number') return gradient(setting);
  if (setting.length > 0 && typeof setting[0] === 'number') return gradient(setting as number[]);
  return (setting as { filter?: string; value: Gradient }[]).map((c) => `${c.filter === undefined ? 'others' : c.filter} ${gradient(c.value)}`).join(', ');
}
