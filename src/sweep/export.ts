/**
 * A sweep as files: the SweepResult JSON, one CSV row per (α, prompt) and one CSV row per α.
 * CSV is RFC 4180 (a field with a comma, quote or line break is quoted, quotes doubled), lines end in "\n";
 * numbers are JavaScript's shortest round-trip form, times in ms with one decimal, booleans true/false,
 * a missing value (perplexity without held-out text) an empty field.
 */
import { csvText } from '../core/csv.ts';
import { contentIds } from './metrics.ts';
import type { SweepResult } from './types.ts';

/** Columns of `sweepResponsesCsv`, in order. */
export const RESPONSE_CSV_COLUMNS = [
  'alpha', 'prompt_id', 'in_target_language', 'ended_with_eos', 'response_tokens', 'distinct1', 'distinct2',
  'letters_hangul', 'letters_han', 'letters_kana', 'letters_latin', 'letters_other', 'prompt', 'response', 'ids',
] as const;

/** Columns of `sweepPointsCsv`, in order. */
export const POINT_CSV_COLUMNS = [
  'alpha', 'target_language_rate', 'format_adherence', 'mean_response_tokens', 'mean_distinct1', 'mean_distinct2',
  'perplexity', 'alpha_change_ms', 'generate_ms', 'perplexity_ms', 'recommended',
] as const;

const ms = (x: number | undefined) => (x === undefined ? undefined : x.toFixed(1));

/**
 * One row per response, in run order: α, prompt id, the scores (response_tokens without the closing eos),
 * letters per script, the prompt and response texts, and the generated ids separated by spaces (eos included).
 */
export function sweepResponsesCsv(result: SweepResult): string {
  const promptText = new Map(result.promptSet.prompts.map((p) => [p.id, p.text]));
  return csvText(RESPONSE_CSV_COLUMNS, result.responses.map((r) => [
    r.alpha, r.promptId, r.inTargetLanguage, r.endedWithEos, contentIds(r.ids, r.endedWithEos).length, r.distinct1, r.distinct2,
    r.scripts.hangul, r.scripts.han, r.scripts.kana, r.scripts.latin, r.scripts.other, promptText.get(r.promptId) ?? '', r.text, r.ids.join(' '),
  ]));
}

/** One row per α, in run order: the SweepPoint fields, and `recommended` true on the recommended α's row. */
export function sweepPointsCsv(result: SweepResult): string {
  return csvText(POINT_CSV_COLUMNS, result.points.map((p) => [
    p.alpha, p.targetLanguageRate, p.formatAdherence, p.meanResponseTokens, p.meanDistinct1, p.meanDistinct2,
    p.perplexity, ms(p.alphaChangeMs), ms(p.generateMs), ms(p.perplexityMs), result.recommendation.alpha === p.alpha,
  ]));
}

/** The SweepResult as saved: indented JSON with a final newline. */
export function sweepResultJson(result: SweepResult): string {
  return JSON.stringify(result, null, 2) + '\n';
}

/**
 * The result without what differs between two runs of the same sweep (id, createdAt, every time in ms):
 * what the CLI and the studio must agree on exactly.
 */
export function comparableSweepResult(result: SweepResult): Omit<SweepResult, 'id' | 'createdAt' | 'elapsedMs'> {
  const { id: _id, createdAt: _createdAt, elapsedMs: _elapsedMs, ...rest } = result;
  return { ...rest, points: rest.points.map(({ alphaChangeMs: _a, generateMs: _g, perplexityMs: _p, ...p }) => p as SweepResult['points'][number]) };
}
