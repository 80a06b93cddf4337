/** The α grid of a sweep, written as a list (`0,0.25,0.5`) or a range (`0:1:0.25`, from:to:step, both ends included). */
import { ChatvecError } from '../core/errors.ts';

/** Most α values one sweep may have. */
export const MAX_ALPHAS = 101;

const HINT = 'Write a comma-separated list like 0,0.25,0.5 or a range from:to:step like 0:1:0.25';

/**
 * α values in order. A range yields from + i·step for i = 0, 1, … while it is ≤ to (within 1e-9·step, so
 * 0:1:0.1 ends at 1), each rounded to 12 significant digits (0.1·3 is 0.3, not 0.30000000000000004).
 * Values must be finite and distinct; at most MAX_ALPHAS.
 */
export function parseAlphaList(spec: string, field = '--alphas'): number[] {
  const bad = (summary: string, expected: string, found: string) => new ChatvecError(summary, { code: 'bad-alphas', tensor: field, expected, found, hint: HINT });
  const number = (s: string) => {
    const t = s.trim();
    const v = Number(t);
    if (t === '' || !Number.isFinite(v)) throw bad(`"${s.trim()}" is not a number`, 'finite numbers', `"${spec}"`);
    return v;
  };
  let alphas: number[];
  if (spec.includes(':')) {
    const parts = spec.split(':');
    if (parts.length !== 3) throw bad('a range needs from:to:step', 'three numbers separated by ":"', `"${spec}"`);
    const [from, to, step] = parts.map(number);
    if (!(step > 0)) throw bad('the step of a range must be positive', 'step > 0', String(step));
    if (to < from) throw bad('a range must not end before it starts', `to ≥ from (${from})`, String(to));
    const count = Math.floor((to - from) / step + 1e-9) + 1;
    if (count > MAX_ALPHAS) throw bad('the range has too many α values', `at most ${MAX_ALPHAS}`, String(count));
    alphas = Array.from({ length: count }, (_, i) => Number((from + i * step).toPrecision(12)));
  } else {
    alphas = spec.split(',').map(number);
    if (alphas.length > MAX_ALPHAS) throw bad('the list has too many α values', `at most ${MAX_ALPHAS}`, String(alphas.length));
  }
  checkAlphas(alphas, field);
  return alphas;
}

/** At least one α, all finite and distinct (a sweep's points are keyed by α). */
export function checkAlphas(alphas: readonly number[], field = 'alphas'): void {
  const bad = (summary: string, expected: string, found: string) => new ChatvecError(summary, { code: 'bad-alphas', tensor: field, expected, found, hint: HINT });
  if (alphas.length === 0) throw bad('no α values', 'at least one α', 'none');
  if (alphas.length > MAX_ALPHAS) throw bad('too many α values', `at most ${MAX_ALPHAS}`, String(alphas.length));
  const seen = new Set<number>();
  for (const a of alphas) {
    if (!Number.isFinite(a)) throw bad('every α must be a finite number', 'finite numbers', String(a));
    if (seen.has(a)) throw bad(`α = ${a} is listed twice`, 'distinct values', `${a} again`);
    seen.add(a);
  }
}
