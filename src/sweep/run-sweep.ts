/**
 * The α sweep (issue #6): at each α of the grid, re-merge the live model, answer every prompt of the set
 * greedily, score the answers and the held-out text, then recommend an α. The CLI and the studio's worker
 * both run this function, which is what makes their results agree.
 */
import { CancelledError, ChatvecError, throwIfAborted } from '../core/errors.ts';
import { ChatSession } from '../model/generate.ts';
import { scoreText, scoreWindowOf } from '../model/score.ts';
import { chatPromptIds, type PreviewFolder } from '../model/session.ts';
import { checkAlphas } from './alphas.ts';
import { perplexity, scoreResponse, summarizeAlpha } from './metrics.ts';
import { checkThreshold, DEFAULT_THRESHOLD, recommendAlpha } from './recommend.ts';
import { sweepMessages, type PromptSet, type SweepPoint, type SweepProgress, type SweepResponse, type SweepResult, type SweepSettings } from './types.ts';

/** What the sweep needs of a model: LiveModel (src/model/live-model.ts) fits, as does anything that can re-merge at an α. */
export interface SweepModel {
  /** Read again after every setAlpha. */
  readonly folder: PreviewFolder;
  /** The α the model holds now, when known: a sweep that starts there skips its first re-merge. */
  readonly alpha?: number;
  setAlpha(alpha: number, opts?: { signal?: AbortSignal }): Promise<unknown>;
}

/** Most new tokens per response: a sweep multiplies it by α values × prompts. */
export const MAX_SWEEP_NEW_TOKENS = 4096;

export const DEFAULT_SWEEP_SETTINGS: Omit<SweepSettings, 'alphas'> = { maxNewTokens: 64, repetitionPenalty: 1, system: '', threshold: DEFAULT_THRESHOLD };

export interface RunSweepParams {
  model: SweepModel;
  promptSet: PromptSet;
  settings: SweepSettings;
  /** Refs of the merged models, recorded in the result. */
  models: SweepResult['models'];
  /** Cancels between tokens (CancelledError); the model is then at whatever α it was re-merged to last. */
  signal?: AbortSignal;
  onProgress?: (p: SweepProgress) => void;
  /** Each response as soon as it is scored. */
  onResponse?: (r: SweepResponse) => void;
  /** The sweep's start time (createdAt, and the date templates that print one render); default now. */
  now?: Date;
}

/**
 * Run the sweep. For every α in `settings.alphas`, in order: `model.setAlpha(α)` (unless the model is at
 * that α already); then for every prompt,
 * the prompt rendered through the model's chat template exactly as the chat preview does (messages from
 * `sweepMessages`, add_generation_prompt, chat_template.jinja when the folder has one; the template's
 * date is `now`), encoded without adding special tokens, answered greedily (repetition penalty from the
 * settings) from a fresh KV cache until an eos id of the tokenizer or `maxNewTokens`; then, when the set
 * has held-out text, its perplexity (`scoreText`: encoded without special tokens, each window led by the
 * tokenizer's bos when it has one, windows of `scoreWindowOf(tokenizer_config)` tokens).
 * Same model, prompt set and settings → the same ids and numbers; only id, createdAt and times differ.
 * The model is left at the last α.
 */
export async function runSweep(params: RunSweepParams): Promise<SweepResult> {
  const { model, promptSet, settings, signal, onProgress, onResponse } = params;
  checkSweepSettings(settings);
  if (promptSet.prompts.length === 0) throw new ChatvecError('the prompt set has no prompts', { code: 'bad-prompt-set', file: promptSet.name, hint: 'Add at least one prompt' });
  const start = params.now ?? new Date();
  const createdAt = start.toISOString();
  const t0 = performance.now();
  const n = promptSet.prompts.length;
  const progress = (alphaIndex: number, promptIndex: number, phase: SweepProgress['phase']) =>
    onProgress?.({ alphaIndex, alphas: settings.alphas.length, promptIndex, prompts: n, phase, elapsedMs: performance.now() - t0 });

  const points: SweepPoint[] = [];
  const responses: SweepResponse[] = [];
  for (const [alphaIndex, alpha] of settings.alphas.entries()) {
    throwIfAborted(signal);
    progress(alphaIndex, 0, 'merge');
    const tMerge = performance.now();
    if (model.alpha !== alpha) await model.setAlpha(alpha, { signal });
    const alphaChangeMs = performance.now() - tMerge;
    const folder = model.folder;

    const tGenerate = performance.now();
    const atAlpha: SweepResponse[] = [];
    for (const [promptIndex, prompt] of promptSet.prompts.entries()) {
      throwIfAborted(signal);
      progress(alphaIndex, promptIndex, 'generate');
      const { ids, text, endedWithEos } = await answer(folder, sweepMessages(prompt, settings.system), settings, start, signal);
      const response = scoreResponse({ promptId: prompt.id, alpha, ids, text, endedWithEos, lang: promptSet.lang });
      atAlpha.push(response);
      responses.push(response);
      onResponse?.(response);
    }
    const generateMs = performance.now() - tGenerate;

    let heldOut: Pick<SweepPoint, 'perplexity' | 'perplexityMs' | 'perplexityTokens'> = { perplexity: null };
    if (promptSet.heldOutText) {
      progress(alphaIndex, n, 'perplexity');
      const tScore = performance.now();
      const ids = folder.tokenizer.encode(promptSet.heldOutText, { addSpecialTokens: false });
      const score = await scoreText(folder.model, ids, { bosTokenId: folder.tokenizer.bosTokenId, window: scoreWindowOf(folder.tokenizerConfig), signal });
      heldOut = { perplexity: perplexity(score.sumNll, score.predicted), perplexityMs: performance.now() - tScore, perplexityTokens: score.predicted };
    }
    points.push(summarizeAlpha(alpha, atAlpha, { ...heldOut, alphaChangeMs, generateMs }));
  }

  return {
    chatvecSweep: 1,
    id: `sweep-${createdAt.replace(/[-:.]/g, '')}`,
    createdAt,
    models: params.models,
    promptSet: { id: promptSet.id, name: promptSet.name, lang: promptSet.lang, source: promptSet.source, prompts: promptSet.prompts.map((p) => ({ id: p.id, text: p.text })) },
    settings: { ...settings, alphas: [...settings.alphas] },
    points,
    responses,
    recommendation: recommendAlpha({ points, threshold: settings.threshold, prompts: n, lang: promptSet.lang }),
    elapsedMs: performance.now() - t0,
  };
}

/** One greedy answer from a fresh cache, rendered and encoded as the chat preview does. */
async function answer(folder: PreviewFolder, messages: ReturnType<typeof sweepMessages>, settings: SweepSettings, now: Date, signal: AbortSignal | undefined) {
  const { tokenizer } = folder;
  const promptIds = chatPromptIds(folder, messages, { now });
  const session = new ChatSession(folder.model, tokenizer);
  const ids: number[] = [];
  try {
    for await (const t of session.generate(promptIds, { maxNewTokens: settings.maxNewTokens, sampling: { greedy: true, repetitionPenalty: settings.repetitionPenalty }, signal, eosTokenIds: tokenizer.eosTokenIds })) ids.push(t.id);
  } finally {
    session.reset();
  }
  const stats = session.lastStats!;
  if (stats.stopReason === 'cancelled' || signal?.aborted) throw new CancelledError();
  return { ids, text: stats.text, endedWithEos: stats.stopReason === 'eos' };
}

/** Settings a sweep can run with; errors name the field. */
export function checkSweepSettings(settings: SweepSettings): void {
  checkAlphas(settings.alphas, 'alphas');
  const bad = (field: string, expected: string, found: unknown) => new ChatvecError(`the sweep setting ${field} is out of range`, { code: 'bad-sweep-settings', tensor: field, expected, found: String(found) });
  if (!Number.isSafeInteger(settings.maxNewTokens) || settings.maxNewTokens < 1 || settings.maxNewTokens > MAX_SWEEP_NEW_TOKENS) throw bad('maxNewTokens', `an integer from 1 to ${MAX_SWEEP_NEW_TOKENS}`, settings.maxNewTokens);
  if (!(settings.repetitionPenalty > 0 && Number.isFinite(settings.repetitionPenalty))) throw bad('repetitionPenalty', 'a positive number (1 = off)', settings.repetitionPenalty);
  if (typeof settings.system !== 'string') throw bad('system', 'text', settings.system);
  checkThreshold(settings.threshold);
}
