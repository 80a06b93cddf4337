import { describe, expect, it } from 'vitest';
import { contentIds, countScripts, distinctN, inTargetLanguage, letterScript, perplexity, scoreResponse, summarizeAlpha, TARGET_LANGUAGE_RULE, withoutCode } from './metrics.ts';
import type { Script, SweepLang } from './types.ts';

const counts = (c: Partial<Record<Script, number>>): Record<Script, number> => ({ hangul: 0, han: 0, kana: 0, latin: 0, other: 0, ...c });
const LANGS: SweepLang[] = ['ko', 'zh-Hant', 'zh-Hans', 'ja', 'en'];
/** The languages `text` counts as, by the rule. */
const langsOf = (text: string) => LANGS.filter((l) => inTargetLanguage(countScripts(text), l));

describe('letterScript', () => {
  it('classifies letters by Unicode script, with Script_Extensions for Common-script letters', () => {
    const got = Object.fromEntries(['가', 'ㄱ', '韓', '々', 'あ', 'ア', 'ｶ', 'ー', 'a', 'é', 'Ａ', 'Ω', 'Д'].map((c) => [c, letterScript(c)]));
    expect(got).toEqual({ 가: 'hangul', ㄱ: 'hangul', 韓: 'han', 々: 'han', あ: 'kana', ア: 'kana', ｶ: 'kana', ー: 'kana', a: 'latin', é: 'latin', Ａ: 'latin', Ω: 'other', Д: 'other' });
  });
  it('digits, punctuation, symbols, emoji, whitespace and combining marks are not letters', () => {
    for (const c of ['1', '١', '。', '、', '!', '_', '€', '😀', '🎉', ' ', '\n', '\u3000', '\u3099', '〇']) expect(letterScript(c), JSON.stringify(c)).toBeNull();
  });
});

describe('countScripts', () => {
  it('Korean with hanja, digits and emoji', () => {
    expect(countScripts('한국어(韓國語)는 한국의 언어입니다. 2024년 🎉')).toEqual(counts({ hangul: 13, han: 3 }));
  });
  it('Japanese with kanji, kana and the prolonged sound mark', () => {
    expect(countScripts('東京は日本の首都です。コーヒーを飲みます。')).toEqual(counts({ han: 7, kana: 12 }));
  });
  it('mixed scripts', () => {
    expect(countScripts('Hello 世界, привет 세계 さようなら')).toEqual(counts({ latin: 5, han: 2, other: 6, hangul: 2, kana: 5 }));
  });
  it('empty text and text without letters', () => {
    expect(countScripts('')).toEqual(counts({}));
    expect(countScripts('12345 !!! 😀🎉 —— 。')).toEqual(counts({}));
  });
  it('leaves out fenced code blocks (closed or not) and inline code', () => {
    expect(countScripts('예시:\n```js\nconst answer = 42;\n```\n이것은 코드입니다.')).toEqual(counts({ hangul: 10 }));
    expect(countScripts('설명:\n```python\nprint("hello world")')).toEqual(counts({ hangul: 2 }));
    expect(countScripts('Use `npm install` 를 실행하세요')).toEqual(counts({ latin: 3, hangul: 6 }));
    expect(countScripts('~~~\ncode\n~~~\n中文')).toEqual(counts({ han: 2 }));
    // A shorter fence does not close a longer one.
    expect(countScripts('````\nx\n```\ny\n````\nz')).toEqual(counts({ latin: 1 }));
  });
  it('withoutCode keeps the text around the code', () => {
    expect(withoutCode('a\n```\nb\n```\nc `d` e')).toBe('a\nc   e');
  });
});

describe('inTargetLanguage (TARGET_LANGUAGE_RULE)', () => {
  it('the rule is stated for the UI', () => {
    expect(TARGET_LANGUAGE_RULE).toContain('more than half of its letters are target letters');
    expect(TARGET_LANGUAGE_RULE).toContain('A response with no letters does not count.');
  });
  it('Korean: Hangul + Han count, Hangul must outnumber Han', () => {
    expect(langsOf('한국어(韓國語)는 한국의 언어입니다.')).toEqual(['ko']);
    expect(inTargetLanguage(counts({ hangul: 1, han: 9 }), 'ko')).toBe(false);
    expect(inTargetLanguage(counts({ hangul: 5, han: 5 }), 'ko')).toBe(false);
    expect(inTargetLanguage(counts({ hangul: 6, han: 5 }), 'ko')).toBe(true);
  });
  it('Japanese: Kana + Han count, at least one Kana; all-kanji text is Chinese', () => {
    expect(langsOf('東京は日本の首都です。')).toEqual(['ja']);
    expect(langsOf('東京都')).toEqual(['zh-Hant', 'zh-Hans']);
    expect(langsOf('コーヒー')).toEqual(['ja']);
  });
  it('Chinese: Han only, no Kana; traditional and simplified are not told apart', () => {
    expect(langsOf('這是繁體中文。')).toEqual(['zh-Hant', 'zh-Hans']);
    expect(langsOf('这是简体中文。')).toEqual(['zh-Hant', 'zh-Hans']);
    expect(inTargetLanguage(counts({ han: 20, kana: 1 }), 'zh-Hans')).toBe(false);
  });
  it('English: Latin', () => {
    expect(langsOf('Hello, world! 123')).toEqual(['en']);
    expect(langsOf('Привет мир')).toEqual([]);
  });
  it('exactly half is not more than half', () => {
    expect(langsOf('abc가나다')).toEqual([]);
    expect(langsOf('abcd가나다')).toEqual(['en']);
  });
  it('no letters: never in the target language', () => {
    for (const l of LANGS) {
      expect(inTargetLanguage(countScripts(''), l)).toBe(false);
      expect(inTargetLanguage(countScripts('42 😀 !!!'), l)).toBe(false);
    }
  });
  it('a Korean answer that is mostly code still counts as Korean', () => {
    expect(langsOf('다음과 같이 하세요:\n```\nfor (let i = 0; i < 10; i++) console.log(i);\n```')).toEqual(['ko']);
  });
});

describe('distinct-n, perplexity, response and α scores', () => {
  it('distinctN over token ids', () => {
    expect(distinctN([1, 2, 1, 2], 1)).toBe(0.5);
    expect(distinctN([1, 2, 1, 2], 2)).toBe(2 / 3);
    expect(distinctN([7, 7, 7], 2)).toBe(0.5);
    expect(distinctN([], 1)).toBe(1);
    expect(distinctN([5], 2)).toBe(1);
    expect(() => distinctN([1], 0)).toThrow('distinct-n needs a positive integer n, not 0');
  });
  it('perplexity is exp of the mean NLL (natural log)', () => {
    expect(perplexity(0, 10)).toBe(1);
    expect(perplexity(3 * Math.log(4), 3)).toBeCloseTo(4, 12);
    expect(perplexity(0, 0)).toBeNull();
    // 12 significant digits: exp(1) = 2.718281828459045…
    expect(perplexity(1, 1)).toBe(2.71828182846);
  });
  it('scoreResponse leaves the closing eos out of length and distinct-n', () => {
    expect(contentIds([10, 11, 99], true)).toEqual([10, 11]);
    expect(contentIds([10, 11, 99], false)).toEqual([10, 11, 99]);
    const r = scoreResponse({ promptId: 'ko-01', alpha: 0.5, ids: [10, 11, 10, 99], text: '네, 맞아요.', endedWithEos: true, lang: 'ko' });
    expect(r).toEqual({ promptId: 'ko-01', alpha: 0.5, ids: [10, 11, 10, 99], text: '네, 맞아요.', endedWithEos: true, scripts: counts({ hangul: 4 }), inTargetLanguage: true, distinct1: 2 / 3, distinct2: 1 });
  });
  it('summarizeAlpha averages over the responses', () => {
    const a = scoreResponse({ promptId: 'p1', alpha: 1, ids: [1, 2, 3, 0], text: '안녕하세요', endedWithEos: true, lang: 'ko' });
    const b = scoreResponse({ promptId: 'p2', alpha: 1, ids: [4, 4, 4, 4, 4, 4], text: 'hello hello', endedWithEos: false, lang: 'ko' });
    expect(summarizeAlpha(1, [a, b], { perplexity: 12.5, alphaChangeMs: 3, generateMs: 40 })).toEqual({
      alpha: 1, targetLanguageRate: 0.5, formatAdherence: 0.5, meanResponseTokens: 4.5, meanDistinct1: (1 + 1 / 6) / 2, meanDistinct2: (1 + 1 / 5) / 2,
      perplexity: 12.5, alphaChangeMs: 3, generateMs: 40,
    });
  });
});
