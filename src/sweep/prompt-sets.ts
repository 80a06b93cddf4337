/**
 * Prompt sets of the α sweep: the bundled ones (TS modules, so Node and the Vite bundle import them alike)
 * and user-defined ones parsed from JSONL.
 */
import { ChatvecError } from '../core/errors.ts';
import { describeValue } from '../core/recipe-io.ts';
import { EN_PROMPTS } from './prompts/en.ts';
import { JA_PROMPTS } from './prompts/ja.ts';
import { KO_PROMPTS } from './prompts/ko.ts';
import { ZH_HANS_PROMPTS } from './prompts/zh-hans.ts';
import { ZH_HANT_PROMPTS } from './prompts/zh-hant.ts';
import type { PromptSet, SweepLang, SweepPrompt } from './types.ts';

export const SWEEP_LANGS: readonly SweepLang[] = ['ko', 'zh-Hant', 'zh-Hans', 'ja', 'en'];

/** The bundled sets by language; each has 20 prompts and a held-out paragraph. */
export const BUILTIN_PROMPT_SETS: Readonly<Record<SweepLang, PromptSet>> = {
  ko: KO_PROMPTS,
  'zh-Hant': ZH_HANT_PROMPTS,
  'zh-Hans': ZH_HANS_PROMPTS,
  ja: JA_PROMPTS,
  en: EN_PROMPTS,
};

export function isSweepLang(value: string): value is SweepLang {
  return (SWEEP_LANGS as readonly string[]).includes(value);
}

/** `builtin:ko` (or just `ko`) → the bundled set; null when `ref` names none. */
export function builtinPromptSet(ref: string): PromptSet | null {
  const lang = ref.startsWith('builtin:') ? ref.slice('builtin:'.length) : ref;
  return isSweepLang(lang) ? BUILTIN_PROMPT_SETS[lang] : null;
}

/** Limits on pasted or uploaded sets, checked before anything else. */
export const PROMPT_JSONL_LIMITS = { bytes: 4 << 20, prompts: 1000, promptChars: 20_000, idChars: 100 } as const;

export interface ParsePromptJsonlParams {
  /** The file's contents. */
  text: string;
  /** File name as the user knows it (errors name it), and the set's name. */
  file: string;
  lang: SweepLang;
  /** Held-out target-language text for perplexity (none: perplexity is not measured). */
  heldOutText?: string;
}

const HINT = 'Write one JSON object per line: {"text": "…"}, {"id": "…", "text": "…"} or {"prompt": "…"}';

/**
 * A user prompt set from JSONL: one object per non-blank line with the prompt in `text` or `prompt` (a
 * non-empty string) and an optional `id` (string or integer; default `p01`, `p02`, … by prompt number).
 * Errors name the line (1-based) and the field.
 */
export function parsePromptJsonl(params: ParsePromptJsonlParams): PromptSet {
  const { file, lang } = params;
  const bad = (summary: string, where: string, expected: string, found: string) => new ChatvecError(summary, { code: 'bad-prompt-set', file, tensor: where, expected, found, hint: HINT });
  const size = new TextEncoder().encode(params.text).length;
  if (size > PROMPT_JSONL_LIMITS.bytes) throw bad('the prompt set is too large', 'file', `at most ${PROMPT_JSONL_LIMITS.bytes} bytes`, `${size} bytes`);
  const lines = params.text.replace(/^\uFEFF/, '').split(/\r?\n/);
  const prompts: SweepPrompt[] = [];
  const lineOfId = new Map<string, number>();
  for (const [i, raw] of lines.entries()) {
    if (raw.trim() === '') continue;
    const line = `line ${i + 1}`;
    if (prompts.length === PROMPT_JSONL_LIMITS.prompts) throw bad('the prompt set has too many prompts', line, `at most ${PROMPT_JSONL_LIMITS.prompts} prompts`, 'more');
    let value: unknown;
    try {
      value = JSON.parse(raw);
    } catch (e) {
      throw bad(`${line} is not JSON`, line, 'a JSON object', `${raw.slice(0, 60)}${raw.length > 60 ? '…' : ''} (${(e as Error).message})`);
    }
    if (typeof value !== 'object' || value === null || Array.isArray(value)) throw bad(`${line} is not an object`, line, 'a JSON object', describeValue(value));
    const o = value as Record<string, unknown>;
    const field = 'text' in o ? 'text' : 'prompt' in o ? 'prompt' : null;
    if (field === null) throw bad(`${line} has no prompt`, `${line}, field "text"`, 'a "text" or "prompt" field', Object.keys(o).length ? `fields ${Object.keys(o).map((k) => JSON.stringify(k)).join(', ')}` : 'an empty object');
    if ('text' in o && 'prompt' in o) throw bad(`${line} has both "text" and "prompt"`, `${line}, field "prompt"`, 'one of them', 'both');
    const text = o[field];
    if (typeof text !== 'string' || text.trim() === '') throw bad(`${line}: the prompt must be non-empty text`, `${line}, field "${field}"`, 'a non-empty string', describeValue(text));
    if (text.length > PROMPT_JSONL_LIMITS.promptChars) throw bad(`${line}: the prompt is too long`, `${line}, field "${field}"`, `at most ${PROMPT_JSONL_LIMITS.promptChars} characters`, `${text.length}`);
    let id = `p${String(prompts.length + 1).padStart(2, '0')}`;
    if ('id' in o) {
      const v = o.id;
      if (!(typeof v === 'string' && v.trim() !== '' && v.length <= PROMPT_JSONL_LIMITS.idChars) && !Number.isSafeInteger(v)) {
        throw bad(`${line}: the id must be non-empty text or an integer`, `${line}, field "id"`, `a string of 1 to ${PROMPT_JSONL_LIMITS.idChars} characters or an integer`, describeValue(v));
      }
      id = String(v);
    }
    const first = lineOfId.get(id);
    if (first !== undefined) throw bad(`${line}: the id "${id}" is already used on line ${first}`, `${line}, field "id"`, 'ids unique within the set', `"${id}" again`);
    lineOfId.set(id, i + 1);
    prompts.push({ id, text });
  }
  if (prompts.length === 0) throw bad('the prompt set has no prompts', 'file', 'at least one line with a prompt', 'none');
  const heldOut = params.heldOutText?.trim();
  return {
    id: `user:${file}`,
    name: file,
    lang,
    source: `user-provided (${file})`,
    prompts,
    ...(heldOut ? { heldOutText: heldOut } : {}),
  };
}
