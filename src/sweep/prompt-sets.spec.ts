import { describe, expect, it } from 'vitest';
import { countScripts, inTargetLanguage } from './metrics.ts';
import { BUILTIN_PROMPT_SETS, builtinPromptSet, parsePromptJsonl, SWEEP_LANGS } from './prompt-sets.ts';

const HINT = 'Write one JSON object per line: {"text": "…"}, {"id": "…", "text": "…"} or {"prompt": "…"}';
const parse = (text: string) => parsePromptJsonl({ text, file: 'mine.jsonl', lang: 'ko' });

describe('bundled prompt sets', () => {
  it.each(SWEEP_LANGS)('%s: 20 prompts with unique ids, all in the language by the rule, a held-out paragraph, a licence', (lang) => {
    const set = BUILTIN_PROMPT_SETS[lang];
    expect(set.id).toBe(`builtin:${lang}`);
    expect(set.lang).toBe(lang);
    expect(set.source).toBe('written for Chat Vector Studio, CC0 1.0 (public domain dedication)');
    expect(set.prompts.length).toBe(20);
    expect(set.prompts.map((p) => p.id)).toEqual(Array.from({ length: 20 }, (_, i) => `${lang}-${String(i + 1).padStart(2, '0')}`));
    expect(new Set(set.prompts.map((p) => p.text)).size).toBe(20);
    for (const p of set.prompts) expect(inTargetLanguage(countScripts(p.text), lang), p.id).toBe(true);
    expect(inTargetLanguage(countScripts(set.heldOutText!), lang)).toBe(true);
    expect([...set.heldOutText!].length).toBeGreaterThanOrEqual(200);
    expect([...set.heldOutText!].length).toBeLessThanOrEqual(800);
    // Held out: none of its sentences is a prompt.
    for (const p of set.prompts) expect(set.heldOutText).not.toContain(p.text);
  });
  it('builtinPromptSet takes builtin:LANG or LANG', () => {
    expect(builtinPromptSet('builtin:ja')).toBe(BUILTIN_PROMPT_SETS.ja);
    expect(builtinPromptSet('zh-Hant')).toBe(BUILTIN_PROMPT_SETS['zh-Hant']);
    expect(builtinPromptSet('builtin:fr')).toBeNull();
  });
});

describe('parsePromptJsonl', () => {
  it('reads {"text"}, {"id", "text"} and {"prompt"} lines; blank lines, CRLF and a BOM are fine', () => {
    const set = parsePromptJsonl({ text: '\uFEFF{"text": "첫째"}\r\n\r\n{"id": "q7", "text": "둘째"}\n{"prompt": "셋째"}\n{"id": 12, "prompt": "넷째"}\n', file: 'mine.jsonl', lang: 'ko', heldOutText: ' 본문 ' });
    expect(set).toEqual({
      id: 'user:mine.jsonl', name: 'mine.jsonl', lang: 'ko', source: 'user-provided (mine.jsonl)',
      prompts: [{ id: 'p01', text: '첫째' }, { id: 'q7', text: '둘째' }, { id: 'p03', text: '셋째' }, { id: '12', text: '넷째' }],
      heldOutText: '본문',
    });
    expect(parse('{"text": "a"}').heldOutText).toBeUndefined();
  });
  it('errors name the file, the line and the field', () => {
    expect(() => parse('{"text": "a"}\n{"text": "b",}')).toThrow(/^mine\.jsonl, tensor "line 2": line 2 is not JSON; expected a JSON object, found \{"text": "b",\} \(.+\)\. Write one JSON object per line/);
    expect(() => parse('["a"]')).toThrow(`mine.jsonl, tensor "line 1": line 1 is not an object; expected a JSON object, found a list ["a"]. ${HINT}`);
    expect(() => parse('{"text": "a"}\n{"question": "b"}')).toThrow(`mine.jsonl, tensor "line 2, field "text"": line 2 has no prompt; expected a "text" or "prompt" field, found fields "question". ${HINT}`);
    expect(() => parse('{"text": "  "}')).toThrow('mine.jsonl, tensor "line 1, field "text"": line 1: the prompt must be non-empty text; expected a non-empty string, found a string "  "');
    expect(() => parse('{"prompt": 5}')).toThrow('tensor "line 1, field "prompt"": line 1: the prompt must be non-empty text; expected a non-empty string, found 5');
    expect(() => parse('{"text": "a", "prompt": "b"}')).toThrow('line 1 has both "text" and "prompt"');
    expect(() => parse('{"id": true, "text": "a"}')).toThrow('tensor "line 1, field "id"": line 1: the id must be non-empty text or an integer; expected a string of 1 to 100 characters or an integer, found true');
    expect(() => parse('{"id": "x", "text": "a"}\n{"id": "x", "text": "b"}')).toThrow('tensor "line 2, field "id"": line 2: the id "x" is already used on line 1; expected ids unique within the set, found "x" again');
    expect(() => parse('\n \n')).toThrow('mine.jsonl, tensor "file": the prompt set has no prompts; expected at least one line with a prompt, found none');
  });
  it('limits size and count before reading further', () => {
    expect(() => parse('x'.repeat((4 << 20) + 1))).toThrow(`the prompt set is too large; expected at most ${4 << 20} bytes, found ${(4 << 20) + 1} bytes`);
    expect(() => parse('{"text": "a"}\n'.repeat(1001))).toThrow('mine.jsonl, tensor "line 1001": the prompt set has too many prompts; expected at most 1000 prompts');
  });
});
