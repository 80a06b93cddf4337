import { describe, expect, it } from 'vitest';
import { formatRate, recommendAlpha } from './recommend.ts';
import type { SweepPoint } from './types.ts';

const point = (alpha: number, targetLanguageRate: number, formatAdherence = 1): SweepPoint => ({
  alpha, targetLanguageRate, formatAdherence, meanResponseTokens: 10, meanDistinct1: 1, meanDistinct2: 1, perplexity: null, alphaChangeMs: 0, generateMs: 0,
});

describe('recommendAlpha', () => {
  it('the highest α at or above the threshold, with the rates that decided it', () => {
    const points = [point(1.5, 0.6), point(0, 1), point(1, 0.9, 0.85), point(0.5, 0.95)];
    expect(recommendAlpha({ points, threshold: 0.9, prompts: 20, lang: 'ko' })).toEqual({
      alpha: 1,
      threshold: 0.9,
      reasoning: 'α = 1 is the highest α whose responses are in Korean at least 90% of the time: 90% (18/20); at the next α tried, 1.5, the rate falls to 60% (12/20). Format adherence (eos within the token limit) at α = 1: 85% (17/20).',
    });
  });
  it('the highest α qualifies even when a lower one does not', () => {
    const r = recommendAlpha({ points: [point(0.25, 0.8), point(0.5, 1)], threshold: 0.9, prompts: 5, lang: 'ja' });
    expect(r.alpha).toBe(0.5);
    expect(r.reasoning).toBe('α = 0.5 is the highest α whose responses are in Japanese at least 90% of the time: 100% (5/5); it is the largest α tried. Format adherence (eos within the token limit) at α = 0.5: 100% (5/5).');
  });
  it('none qualifies: null, the best rate and what to try', () => {
    const r = recommendAlpha({ points: [point(0, 0.45), point(0.5, 0.45), point(1, 0.1)], threshold: 0.9, prompts: 20, lang: 'zh-Hans' });
    expect(r).toEqual({
      alpha: null,
      threshold: 0.9,
      reasoning: 'No α reaches the threshold of 90% answers in Simplified Chinese: the highest target-language rate is 45% (9/20) at α = 0.5. Check that cp alone answers in Simplified Chinese (α = 0), try smaller α values, or lower the threshold.',
    });
  });
  it('none qualifies and every α has the same rate', () => {
    expect(recommendAlpha({ points: [point(0, 0), point(1, 0)], threshold: 0.9, prompts: 4, lang: 'en' }).reasoning).toBe('No α reaches the threshold of 90% answers in English: the highest target-language rate is 0% (0/4) at every α tried. Check that cp alone answers in English (α = 0), try smaller α values, or lower the threshold.');
  });
  it('threshold 0 takes the highest α; a bad threshold is an error', () => {
    expect(recommendAlpha({ points: [point(0, 0), point(2, 0)], threshold: 0, prompts: 3, lang: 'en' }).alpha).toBe(2);
    expect(() => recommendAlpha({ points: [], threshold: 1.5, prompts: 3, lang: 'en' })).toThrow('tensor "threshold": the threshold must be a rate from 0 to 1; expected 0 ≤ threshold ≤ 1 (e.g. 0.9), found 1.5');
  });
  it('formatRate', () => {
    expect(formatRate(2 / 3, 3)).toBe('66.7% (2/3)');
    expect(formatRate(0, 20)).toBe('0% (0/20)');
  });
});
