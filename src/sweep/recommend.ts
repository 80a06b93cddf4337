/** The α the sweep recommends: as much chat vector as the target language survives. */
import { ChatvecError } from '../core/errors.ts';
import type { SweepLang, SweepPoint, SweepRecommendation } from './types.ts';

export const DEFAULT_THRESHOLD = 0.9;

const LANGUAGE_NAMES: Record<SweepLang, string> = { ko: 'Korean', 'zh-Hant': 'Traditional Chinese', 'zh-Hans': 'Simplified Chinese', ja: 'Japanese', en: 'English' };

export interface RecommendAlphaParams {
  points: readonly SweepPoint[];
  /** Target-language rate an α must reach, 0…1. */
  threshold: number;
  /** Prompts per α, to show rates as counts (19/20). */
  prompts: number;
  lang: SweepLang;
}

/** `0.95` → `95%`, `2/3` → `66.7%`. */
export function formatPercent(rate: number): string {
  return `${Number((rate * 100).toFixed(1))}%`;
}

/** `0.95`, 20 → `95% (19/20)`. */
export function formatRate(rate: number, prompts: number): string {
  return `${formatPercent(rate)} (${Math.round(rate * prompts)}/${prompts})`;
}

/**
 * The highest α whose target-language rate is ≥ threshold (more α is more of the chat model's behaviour;
 * the rate is what it must not cost), with reasoning that names the rates it was chosen on. Null when no
 * α qualifies; the reasoning then names the best rate and what to try.
 */
export function recommendAlpha(params: RecommendAlphaParams): SweepRecommendation {
  const { points, threshold, prompts, lang } = params;
  checkThreshold(threshold);
  const language = LANGUAGE_NAMES[lang];
  const pct = formatPercent(threshold);
  if (points.length === 0) return { alpha: null, threshold, reasoning: 'No α was measured.' };
  const byAlpha = [...points].sort((a, b) => a.alpha - b.alpha);
  const qualifying = byAlpha.filter((p) => p.targetLanguageRate >= threshold);
  const best = qualifying.at(-1);
  if (!best) {
    const top = byAlpha.reduce((m, p) => (p.targetLanguageRate >= m.targetLanguageRate ? p : m));
    const where = byAlpha.length > 1 && byAlpha.every((p) => p.targetLanguageRate === top.targetLanguageRate) ? 'at every α tried' : `at α = ${top.alpha}`;
    return {
      alpha: null,
      threshold,
      reasoning:
        `No α reaches the threshold of ${pct} answers in ${language}: the highest target-language rate is ${formatRate(top.targetLanguageRate, prompts)} ${where}. ` +
        `Check that cp alone answers in ${language} (α = 0), try smaller α values, or lower the threshold.`,
    };
  }
  const above = byAlpha.find((p) => p.alpha > best.alpha);
  const why = above
    ? `at the next α tried, ${above.alpha}, the rate falls to ${formatRate(above.targetLanguageRate, prompts)}`
    : 'it is the largest α tried';
  return {
    alpha: best.alpha,
    threshold,
    reasoning: `α = ${best.alpha} is the highest α whose responses are in ${language} at least ${pct} of the time: ${formatRate(best.targetLanguageRate, prompts)}; ${why}. Format adherence (eos within the token limit) at α = ${best.alpha}: ${formatRate(best.formatAdherence, prompts)}.`,
  };
}

export function checkThreshold(threshold: number, field = 'threshold'): void {
  if (!(threshold >= 0 && threshold <= 1)) throw new ChatvecError('the threshold must be a rate from 0 to 1', { code: 'bad-threshold', tensor: field, expected: '0 ≤ threshold ≤ 1 (e.g. 0.9)', found: String(threshold) });
}
