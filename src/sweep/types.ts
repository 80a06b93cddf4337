/**
 * The α sweep (issue #6): run one prompt set on the live merge θ = cp + α·τ at every α of a grid, score
 * every response, and recommend an α. Shared by the CLI (`chatvec sweep`), the preview worker and the UI.
 */
import type { ChatMessage } from '../model/chat-template.ts';

/** Target languages of the bundled prompt sets; each names the script its responses should be in. */
export type SweepLang = 'ko' | 'zh-Hant' | 'zh-Hans' | 'ja' | 'en';

/** The scripts the target-language rule counts letters in. */
export type Script = 'hangul' | 'han' | 'kana' | 'latin' | 'other';

export interface SweepPrompt {
  /** Stable id within its set (e.g. `ko-07`), used in tables and exports. */
  id: string;
  /** The user message. */
  text: string;
}

export interface PromptSet {
  /** `builtin:ko`, … for bundled sets; `user:<name>` for pasted or uploaded ones. */
  id: string;
  name: string;
  lang: SweepLang;
  /** Where the text comes from and under what licence (bundled sets). */
  source: string;
  prompts: SweepPrompt[];
  /** Held-out text in the target language for the perplexity metric (none: perplexity is not measured). */
  heldOutText?: string;
}

export interface SweepSettings {
  /** α values in the order they run; each an f32-representable finite number. */
  alphas: number[];
  /** Greedy (deterministic) unless sampling is asked for; the UI/CLI agreement test uses greedy. */
  maxNewTokens: number;
  /** 1 = off. */
  repetitionPenalty: number;
  /** Optional system prompt put before every user message. */
  system: string;
  /** Recommendation threshold on the target-language rate, 0…1 (default 0.9). */
  threshold: number;
}

/** One response and its scores. */
export interface SweepResponse {
  promptId: string;
  alpha: number;
  ids: number[];
  text: string;
  /** Generation stopped on an eos id within maxNewTokens. */
  endedWithEos: boolean;
  /** Letters per script in `text`. */
  scripts: Record<Script, number>;
  /** The response's letters are mostly in the target script (the exact rule: see metrics). */
  inTargetLanguage: boolean;
  /** distinct-n of the response's tokens: unique n-grams / n-grams (1 when there are none). */
  distinct1: number;
  distinct2: number;
}

/** Aggregates over the prompt set at one α. */
export interface SweepPoint {
  alpha: number;
  targetLanguageRate: number;
  formatAdherence: number;
  meanResponseTokens: number;
  meanDistinct1: number;
  meanDistinct2: number;
  /** exp(mean NLL per token) of the merged model on the set's held-out text; null when the set has none. */
  perplexity: number | null;
  /** ms spent re-merging + rebinding and generating at this α. */
  alphaChangeMs: number;
  generateMs: number;
  /** ms spent scoring the held-out text at this α (not part of generateMs); absent without held-out text. */
  perplexityMs?: number;
  /** Held-out tokens the perplexity is over (predicted tokens); absent without held-out text. */
  perplexityTokens?: number;
}

export interface SweepRecommendation {
  /** The highest α whose target-language rate is ≥ threshold; null when none is. */
  alpha: number | null;
  threshold: number;
  /** One or two sentences a person can check against the table. */
  reasoning: string;
}

export interface SweepResult {
  /** Format version of the saved JSON. */
  chatvecSweep: 1;
  id: string;
  createdAt: string;
  /** What was merged: refs of the models (e.g. demo/cp, demo/base, demo/chat, or folder paths). */
  models: { cp: string; base: string; chat: string };
  promptSet: Pick<PromptSet, 'id' | 'name' | 'lang' | 'source'> & { prompts: SweepPrompt[] };
  settings: SweepSettings;
  points: SweepPoint[];
  responses: SweepResponse[];
  recommendation: SweepRecommendation;
  elapsedMs: number;
}

export interface SweepProgress {
  alphaIndex: number;
  alphas: number;
  promptIndex: number;
  prompts: number;
  phase: 'merge' | 'generate' | 'perplexity';
  elapsedMs: number;
}

/** A conversation for one prompt of the set. */
export function sweepMessages(prompt: SweepPrompt, system: string): ChatMessage[] {
  return system.trim() ? [{ role: 'system', content: system }, { role: 'user', content: prompt.text }] : [{ role: 'user', content: prompt.text }];
}
