/**
 * `chatvec sweep`: the α sweep of issue #6 on the command line. The triplet is merged in memory (LiveModel:
 * nothing is written per α) and `runSweep` does the rest, the same function the studio runs.
 */
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import * as ort from 'onnxruntime-web';
import { CancelledError, ChatvecError } from '../core/errors.ts';
import type { FileTree } from '../core/sources/byte-source.ts';
import { LiveModel } from '../model/live-model.ts';
import { parseAlphaList } from '../sweep/alphas.ts';
import { sweepResponsesCsv, sweepResultJson } from '../sweep/export.ts';
import { TARGET_SCRIPTS } from '../sweep/metrics.ts';
import { builtinPromptSet, isSweepLang, parsePromptJsonl, SWEEP_LANGS } from '../sweep/prompt-sets.ts';
import { DEFAULT_THRESHOLD, formatPercent, formatRate } from '../sweep/recommend.ts';
import { DEFAULT_SWEEP_SETTINGS, MAX_SWEEP_NEW_TOKENS, runSweep } from '../sweep/run-sweep.ts';
import type { PromptSet, SweepProgress, SweepResult, SweepSettings } from '../sweep/types.ts';
import type { UsageErrorFactory } from './generate-command.ts';

type Values = Record<string, string | boolean | string[] | undefined>;

export async function sweepCmd(args: string[], values: Values, usageError: UsageErrorFactory, modelTree: (ref: string) => FileTree): Promise<number> {
  if (args.length > 0) throw usageError(`unexpected arguments: ${args.join(' ')}`);
  for (const k of ['base', 'chat', 'cp'] as const) if (typeof values[k] !== 'string') throw usageError(`--${k} is required`);
  if (typeof values.alphas !== 'string') throw usageError('--alphas is required (e.g. --alphas 0,0.5,1 or --alphas 0:1:0.25)');
  if (typeof values.prompts !== 'string') throw usageError('--prompts is required (builtin:ko, builtin:zh-Hant, builtin:zh-Hans, builtin:ja, builtin:en or a JSONL file)');
  if (values.json && values.csv) throw usageError('give --json or --csv, not both');
  const settings: SweepSettings = {
    ...DEFAULT_SWEEP_SETTINGS,
    alphas: flagValue(() => parseAlphaList(values.alphas as string), '--alphas', usageError),
    maxNewTokens: values['max-new-tokens'] === undefined ? DEFAULT_SWEEP_SETTINGS.maxNewTokens : maxNewTokens(values['max-new-tokens'] as string, usageError),
    threshold: values.threshold === undefined ? DEFAULT_THRESHOLD : threshold(values.threshold as string, usageError),
    system: typeof values.system === 'string' ? values.system : '',
  };
  const promptSet = await promptSetFrom(values.prompts, values.lang as string | undefined, usageError);
  const models = { cp: values.cp as string, base: values.base as string, chat: values.chat as string };

  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const progress = process.stderr.isTTY ? progressLine(process.stderr) : null;
  let live: LiveModel | null = null;
  try {
    const t0 = performance.now();
    live = await LiveModel.open({ cp: modelTree(models.cp), base: modelTree(models.base), chat: modelTree(models.chat) }, { alpha: settings.alphas[0], ort, numThreads: 1, executionProviders: ['wasm'], signal: abort.signal });
    const openMs = performance.now() - t0;
    const result = await runSweep({ model: live, promptSet, settings, models, signal: abort.signal, onProgress: progress ? (p) => progress.update(p, settings.alphas) : undefined });
    progress?.done();
    process.stdout.write(values.json ? sweepResultJson(result) : values.csv ? sweepResponsesCsv(result) : formatSweepTable(result));
    process.stderr.write(`swept ${settings.alphas.length} α × ${promptSet.prompts.length} prompts in ${(result.elapsedMs / 1000).toFixed(1)} s (opening the triplet: ${(openMs / 1000).toFixed(1)} s)\n`);
    return 0;
  } catch (e) {
    progress?.done();
    if (!(e instanceof CancelledError)) throw e;
    process.stderr.write('chatvec: cancelled\n');
    return 1;
  } finally {
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    await live?.close();
  }
}

/** `builtin:LANG`, or a JSONL file whose language --lang gives. */
async function promptSetFrom(ref: string, lang: string | undefined, usageError: UsageErrorFactory): Promise<PromptSet> {
  if (lang !== undefined && !isSweepLang(lang)) throw usageError(`--lang must be one of ${SWEEP_LANGS.join(', ')}, not "${lang}"`);
  if (ref.startsWith('builtin:')) {
    const set = builtinPromptSet(ref);
    if (!set) throw usageError(`--prompts: there is no ${ref}; the bundled sets are ${SWEEP_LANGS.map((l) => `builtin:${l}`).join(', ')}`);
    if (lang !== undefined && lang !== set.lang) throw usageError(`--lang ${lang} does not match ${ref}, whose prompts are in ${set.lang}`);
    return set;
  }
  if (lang === undefined) throw usageError(`--lang is required with a prompt file (${SWEEP_LANGS.join(', ')}): it says which language the answers should be in`);
  const text = await readFile(resolvePath(ref), 'utf8').catch(() => {
    throw new ChatvecError('cannot read the prompt file', { code: 'no-prompt-set', file: ref, hint: 'Give a JSONL file, or a bundled set such as builtin:ko' });
  });
  return parsePromptJsonl({ text, file: ref, lang });
}

/** A parse that throws ChatvecError, as a usage error naming the flag. */
function flagValue<T>(parse: () => T, flag: string, usageError: UsageErrorFactory): T {
  try {
    return parse();
  } catch (e) {
    if (!(e instanceof ChatvecError)) throw e;
    // The message starts with where the problem is (the flag, as a field); say it once, as a flag.
    throw usageError(`${flag}: ${e.message.replace(/^tensor "[^"]*": /, '')}`);
  }
}

function maxNewTokens(s: string, usageError: UsageErrorFactory): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || n < 1 || n > MAX_SWEEP_NEW_TOKENS) throw usageError(`--max-new-tokens must be an integer from 1 to ${MAX_SWEEP_NEW_TOKENS}, not "${s}"`);
  return n;
}

function threshold(s: string, usageError: UsageErrorFactory): number {
  const t = Number(s);
  if (s.trim() === '' || !(t >= 0 && t <= 1)) throw usageError(`--threshold must be a rate from 0 to 1 (e.g. 0.9), not "${s}"`);
  return t;
}

/** The readable report: one row per α, then the recommendation and its reasoning. */
export function formatSweepTable(result: SweepResult): string {
  const n = result.promptSet.prompts.length;
  const { lang } = result.promptSet;
  const head = ['α', 'target language', 'format (eos)', 'tokens', 'distinct-1', 'distinct-2', 'perplexity', 'time s'];
  const rows = result.points.map((p) => [
    String(p.alpha), formatRate(p.targetLanguageRate, n), formatRate(p.formatAdherence, n), p.meanResponseTokens.toFixed(1),
    p.meanDistinct1.toFixed(3), p.meanDistinct2.toFixed(3), p.perplexity === null ? '-' : p.perplexity.toFixed(2),
    ((p.alphaChangeMs + p.generateMs + (p.perplexityMs ?? 0)) / 1000).toFixed(1),
  ]);
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => r[i].length)));
  const line = (cells: string[]) => cells.map((c, i) => c.padStart(widths[i])).join('  ');
  const target = TARGET_SCRIPTS[lang];
  const names: Record<string, string> = { hangul: 'Hangul', han: 'Han', kana: 'Kana', latin: 'Latin' };
  const s = result.settings;
  return [
    `α sweep of ${result.promptSet.id} (${result.promptSet.name}, ${n} prompts, answers expected in ${lang}); greedy, at most ${s.maxNewTokens} new tokens${s.system ? ', with a system prompt' : ''}`,
    `models: cp ${result.models.cp}, base ${result.models.base}, chat ${result.models.chat}`,
    `in the target language: more than half of the letters ${target.scripts.map((x) => names[x]).join(' + ')}${target.condition === 'none' ? '' : `, and ${target.condition}`} (code left out)`,
    '',
    line(head),
    ...rows.map(line),
    '',
    `${result.recommendation.alpha === null ? 'no α recommended' : `recommended: α = ${result.recommendation.alpha}`} (target-language rate ≥ ${formatPercent(result.recommendation.threshold)})`,
    result.recommendation.reasoning,
    '',
  ].join('\n');
}

/** One line on a TTY, redrawn in place: which α, which prompt, how long so far. */
function progressLine(stream: NodeJS.WriteStream): { update(p: SweepProgress, alphas: number[]): void; done(): void } {
  let drawn = false;
  return {
    update(p, alphas) {
      const what = p.phase === 'merge' ? 're-merging' : p.phase === 'perplexity' ? 'perplexity' : `prompt ${p.promptIndex + 1}/${p.prompts}`;
      const line = `α = ${alphas[p.alphaIndex]} (${p.alphaIndex + 1}/${p.alphas}) ${what}, ${(p.elapsedMs / 1000).toFixed(1)} s`;
      const width = (stream.columns || 120) - 1;
      stream.write(`\r${line.slice(0, width).padEnd(width)}`);
      drawn = true;
    },
    done() {
      if (drawn) stream.write('\n');
      drawn = false;
    },
  };
}
