/**
 * Scores of the α sweep (issue #6), as pure functions: which script a response is written in, whether
 * that counts as the target language, format adherence, length, distinct-n and perplexity.
 */
import type { Script, SweepLang, SweepPoint, SweepResponse } from './types.ts';

/**
 * The target-language rule, word for word as the UI and the CLI show it. `inTargetLanguage` implements it.
 *
 * Why these choices: hanja and kanji are part of Korean and Japanese text, so Han letters count for ko and ja;
 * Chinese has no kana and Korean rarely more hanja than Hangul, which tells them apart from Chinese; code is
 * written in Latin letters whatever language the answer is in, so it is left out.
 */
export const TARGET_LANGUAGE_RULE =
  'A response counts as in the target language when more than half of its letters are target letters and it meets its language\'s extra condition. ' +
  'Letters are the characters of Unicode category L outside Markdown code (``` or ~~~ fenced blocks, to the end of the text when a fence is not closed, and `inline` spans); ' +
  'digits, punctuation, symbols, emoji and whitespace are not letters. ' +
  'Scripts are Unicode script properties (Script, or Script_Extensions for characters of the Common script such as ー): Hangul, Han, Kana (Hiragana or Katakana), Latin; any other script is "other". ' +
  'Target letters: ko Hangul + Han (hanja), ja Kana + Han (kanji), zh-Hant and zh-Hans Han, en Latin. ' +
  'Extra conditions: ko more Hangul than Han letters; ja at least one Kana letter; zh-Hant and zh-Hans no Kana letter; en none. ' +
  'Traditional and simplified characters are not told apart (both are the Han script). A response with no letters does not count.';

/** Per language: which scripts are target letters, and the extra condition in words (the rule above, split up for tables). */
export const TARGET_SCRIPTS: Record<SweepLang, { scripts: Script[]; condition: string }> = {
  ko: { scripts: ['hangul', 'han'], condition: 'more Hangul than Han letters' },
  ja: { scripts: ['kana', 'han'], condition: 'at least one Kana letter' },
  'zh-Hant': { scripts: ['han'], condition: 'no Kana letter' },
  'zh-Hans': { scripts: ['han'], condition: 'no Kana letter' },
  en: { scripts: ['latin'], condition: 'none' },
};

const LETTER = /\p{L}/u;
const BY_SCRIPT: [Exclude<Script, 'other'>, RegExp, RegExp][] = [
  ['hangul', /\p{Script=Hangul}/u, /\p{Script_Extensions=Hangul}/u],
  ['han', /\p{Script=Han}/u, /\p{Script_Extensions=Han}/u],
  ['kana', /[\p{Script=Hiragana}\p{Script=Katakana}]/u, /[\p{Script_Extensions=Hiragana}\p{Script_Extensions=Katakana}]/u],
  ['latin', /\p{Script=Latin}/u, /\p{Script_Extensions=Latin}/u],
];
const COMMON = /[\p{Script=Common}\p{Script=Inherited}]/u;

/** The script of one character (a code point) when it is a letter, else null. */
export function letterScript(char: string): Script | null {
  if (!LETTER.test(char)) return null;
  for (const [script, re] of BY_SCRIPT) if (re.test(char)) return script;
  // Common-script letters used by one writing system, e.g. the prolonged sound mark ー (Hiragana and Katakana).
  if (COMMON.test(char)) for (const [script, , ext] of BY_SCRIPT) if (ext.test(char)) return script;
  return 'other';
}

/**
 * `text` without Markdown code: fenced blocks (a line opening with ``` or ~~~ up to the line closing it with
 * at least as many of the same character, or to the end when none does) and inline `code` spans on the rest.
 */
export function withoutCode(text: string): string {
  const kept: string[] = [];
  let fence: string | null = null;
  for (const line of text.split('\n')) {
    const marker = /^ {0,3}(`{3,}|~{3,})/.exec(line)?.[1];
    if (fence === null && marker) fence = marker;
    else if (fence !== null && marker && marker[0] === fence[0] && marker.length >= fence.length && line.trim() === marker) fence = null;
    else if (fence === null) kept.push(line.replace(/`[^`]+`/g, ' '));
  }
  return kept.join('\n');
}

export function emptyScriptCounts(): Record<Script, number> {
  return { hangul: 0, han: 0, kana: 0, latin: 0, other: 0 };
}

/** Letters per script in `text`, Markdown code left out. */
export function countScripts(text: string): Record<Script, number> {
  const counts = emptyScriptCounts();
  for (const char of withoutCode(text)) {
    const script = letterScript(char);
    if (script) counts[script]++;
  }
  return counts;
}

/** TARGET_LANGUAGE_RULE applied to letter counts. */
export function inTargetLanguage(counts: Record<Script, number>, lang: SweepLang): boolean {
  const letters = counts.hangul + counts.han + counts.kana + counts.latin + counts.other;
  if (letters === 0) return false;
  const target = TARGET_SCRIPTS[lang].scripts.reduce((n, s) => n + counts[s], 0);
  if (2 * target <= letters) return false;
  switch (lang) {
    case 'ko':
      return counts.hangul > counts.han;
    case 'ja':
      return counts.kana > 0;
    case 'zh-Hant':
    case 'zh-Hans':
      return counts.kana === 0;
    case 'en':
      return true;
  }
}

/** Unique n-grams / n-grams of `ids`; 1 when there are none (fewer than n ids). */
export function distinctN(ids: readonly number[], n: number): number {
  if (!Number.isSafeInteger(n) || n < 1) throw new RangeError(`distinct-n needs a positive integer n, not ${n}`);
  const total = ids.length - n + 1;
  if (total <= 0) return 1;
  const seen = new Set<string>();
  for (let i = 0; i < total; i++) seen.add(ids.slice(i, i + n).join(','));
  return seen.size / total;
}

/**
 * exp(Σ NLL / tokens), natural log, to 12 significant digits; null when no token was predicted. (Math.exp and
 * Math.log may differ in the last bit between JavaScript engines: the rounding keeps the page's and the
 * CLI's numbers equal.)
 */
export function perplexity(sumNll: number, tokens: number): number | null {
  return tokens > 0 ? Number(Math.exp(sumNll / tokens).toPrecision(12)) : null;
}

/**
 * The response's tokens for length and distinct-n: the generated ids without the eos that ended them
 * (the eos is the format, not content).
 */
export function contentIds(ids: readonly number[], endedWithEos: boolean): number[] {
  return endedWithEos ? ids.slice(0, -1) : [...ids];
}

/** One response's scores. `ids` are all generated ids, the closing eos included when there was one. */
export function scoreResponse(params: { promptId: string; alpha: number; ids: number[]; text: string; endedWithEos: boolean; lang: SweepLang }): SweepResponse {
  const { promptId, alpha, ids, text, endedWithEos, lang } = params;
  const content = contentIds(ids, endedWithEos);
  const scripts = countScripts(text);
  return {
    promptId, alpha, ids, text, endedWithEos, scripts,
    inTargetLanguage: inTargetLanguage(scripts, lang),
    distinct1: distinctN(content, 1),
    distinct2: distinctN(content, 2),
  };
}

/**
 * The aggregates at one α over its responses: rates are shares of the responses, means are plain means
 * (response tokens without the closing eos).
 */
export function summarizeAlpha(alpha: number, responses: readonly SweepResponse[], extra: Pick<SweepPoint, 'perplexity' | 'alphaChangeMs' | 'generateMs'> & Partial<SweepPoint>): SweepPoint {
  const n = responses.length;
  const mean = (f: (r: SweepResponse) => number) => (n ? responses.reduce((s, r) => s + f(r), 0) / n : 0);
  return {
    alpha,
    targetLanguageRate: mean((r) => (r.inTargetLanguage ? 1 : 0)),
    formatAdherence: mean((r) => (r.endedWithEos ? 1 : 0)),
    meanResponseTokens: mean((r) => contentIds(r.ids, r.endedWithEos).length),
    meanDistinct1: mean((r) => r.distinct1),
    meanDistinct2: mean((r) => r.distinct2),
    ...extra,
  };
}
