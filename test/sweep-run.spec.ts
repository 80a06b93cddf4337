/** runSweep on a live merge: the same ids and numbers as merged folders and the f64 reference forward pass, deterministic, cancellable. */
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { writeTriplet } from '../scripts/fixtures.ts';
import { CancelledError } from '../src/core/errors.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { renderChatPrompt } from '../src/model/chat-template.ts';
import { LiveModel } from '../src/model/live-model.ts';
import { scoreWindowOf, scoreWindows } from '../src/model/score.ts';
import { openPreviewFolder, type PreviewFolder } from '../src/model/session.ts';
import { comparableSweepResult } from '../src/sweep/export.ts';
import { parsePromptJsonl } from '../src/sweep/prompt-sets.ts';
import { runSweep, type SweepModel } from '../src/sweep/run-sweep.ts';
import { sweepMessages, type SweepProgress, type SweepResponse, type SweepSettings } from '../src/sweep/types.ts';
import { folderWeights, mergeTo, recipeFor, tempDir, type Paths } from './helpers.ts';

const promptSet = parsePromptJsonl({
  file: 'test.jsonl',
  lang: 'en',
  text: ['{"id": "hi", "text": "Hello there, how are you?"}', '{"text": "한국어로 대답해 주세요."}', '{"prompt": "東京はどこですか。"}'].join('\n'),
  heldOutText: 'The garden behind the school grows beans, herbs and a few tall sunflowers.',
});
const settings: SweepSettings = { alphas: [0, 0.5, 1.25], maxNewTokens: 6, repetitionPenalty: 1, system: 'Be brief.', threshold: 0.9 };
const NOW = new Date('2025-03-04T05:06:07.089Z');

/** Merged folders on disk, one per α: the sweep's model before LiveModel, and an independent check of it. */
class MergedFolders implements SweepModel {
  folder!: PreviewFolder;
  constructor(private readonly paths: Paths, private readonly dir: string) {}
  async setAlpha(alpha: number) {
    const out = join(this.dir, `merged-${alpha}`);
    await mergeTo(recipeFor(this.paths, { dtype: 'f32' }, alpha), out, { force: true });
    await this.folder?.model.release();
    this.folder = await openPreviewFolder(new NodeFileTree(out), { ort, numThreads: 1 });
  }
}

describe('runSweep', () => {
  let dir: string;
  let paths: Paths;
  let live: LiveModel;
  beforeAll(async () => {
    dir = await tempDir('chatvec-sweep-run-');
    paths = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 4, seed: 13, weightStd: 0.1 });
    const tree = (p: string) => new NodeFileTree(p);
    live = await LiveModel.open({ cp: tree(paths.cp), base: tree(paths.base), chat: tree(paths.chat) }, { alpha: 1, ort, numThreads: 1 });
  });
  afterAll(() => live?.close());

  it('on the live model: one response per (α, prompt) in order, points, progress, and the same result as merged folders', async () => {
    const progress: SweepProgress[] = [];
    const streamed: SweepResponse[] = [];
    const result = await runSweep({ model: live, promptSet, settings, models: { cp: 'cp', base: 'base', chat: 'chat' }, now: NOW, onProgress: (p) => progress.push(p), onResponse: (r) => streamed.push(r) });
    expect(result.chatvecSweep).toBe(1);
    expect(result.id).toBe('sweep-20250304T050607089Z');
    expect(result.createdAt).toBe('2025-03-04T05:06:07.089Z');
    expect(result.promptSet).toEqual({ id: 'user:test.jsonl', name: 'test.jsonl', lang: 'en', source: 'user-provided (test.jsonl)', prompts: promptSet.prompts });
    expect(result.settings).toEqual(settings);
    expect(result.responses.map((r) => `${r.alpha}/${r.promptId}`)).toEqual(['0/hi', '0/p02', '0/p03', '0.5/hi', '0.5/p02', '0.5/p03', '1.25/hi', '1.25/p02', '1.25/p03']);
    expect(streamed).toEqual(result.responses);
    // Answers that are only an eos (decode of no ids) are scored, not a crash.
    expect(result.responses.filter((r) => r.endedWithEos && r.ids.length === 1 && r.text === '').length).toBeGreaterThan(0);
    for (const r of result.responses) {
      expect(r.ids.length).toBeLessThanOrEqual(6);
      expect(r.endedWithEos || r.ids.length === 6).toBe(true);
      const content = r.endedWithEos ? r.ids.slice(0, -1) : r.ids;
      expect(r.text).toBe(content.length ? live.folder.tokenizer.decode(content, { skipSpecialTokens: true }) : '');
    }
    expect(result.points.map((p) => p.alpha)).toEqual([0, 0.5, 1.25]);
    for (const p of result.points) {
      expect(p.perplexity).toBeGreaterThan(1);
      expect(p.perplexityTokens).toBe(live.folder.tokenizer.encode(promptSet.heldOutText!, { addSpecialTokens: false }).length);
      expect(p.generateMs).toBeGreaterThan(0);
    }
    expect(progress.map((p) => `${p.alphaIndex}:${p.phase}:${p.promptIndex}`)).toEqual([0, 1, 2].flatMap((a) => [`${a}:merge:0`, `${a}:generate:0`, `${a}:generate:1`, `${a}:generate:2`, `${a}:perplexity:3`]));
    expect(progress.every((p) => p.alphas === 3 && p.prompts === 3)).toBe(true);
    expect(result.recommendation.threshold).toBe(0.9);
    expect(live.alpha).toBe(1.25);

    // Determinism, and agreement with engine merges written to disk and opened as folders.
    const again = await runSweep({ model: live, promptSet, settings, models: { cp: 'cp', base: 'base', chat: 'chat' }, now: new Date() });
    expect(comparableSweepResult(again)).toEqual(comparableSweepResult(result));
    const folders = new MergedFolders(paths, dir);
    const fromFolders = await runSweep({ model: folders, promptSet, settings, models: { cp: 'cp', base: 'base', chat: 'chat' } });
    await folders.folder.model.release();
    expect(comparableSweepResult(fromFolders)).toEqual(comparableSweepResult(result));

    // Ids: the f64 reference forward pass's greedy continuation of the preview's prompt; perplexity within f32 rounding.
    for (const point of result.points) {
      const reference = (await folderWeights(join(dir, `merged-${point.alpha}`))).reference;
      const { tokenizer, tokenizerConfig, chatTemplate } = live.folder;
      for (const prompt of promptSet.prompts) {
        const text = renderChatPrompt(tokenizerConfig, sweepMessages(prompt, settings.system), { addGenerationPrompt: true, chatTemplate });
        const promptIds = tokenizer.encode(text, { addSpecialTokens: false });
        const response = result.responses.find((r) => r.alpha === point.alpha && r.promptId === prompt.id)!;
        expect(response.ids, `${point.alpha}/${prompt.id}`).toEqual(reference.greedy(promptIds, 6, tokenizer.eosTokenIds));
      }
      const ids = tokenizer.encode(promptSet.heldOutText!, { addSpecialTokens: false });
      let sum = 0, n = 0;
      for (const window of scoreWindows(ids, scoreWindowOf(tokenizerConfig), true)) {
        const context = [tokenizer.bosTokenId!, ...window];
        const logits = reference.forward(context);
        for (let i = 0; i + 1 < context.length; i++) {
          const max = Math.max(...logits[i]);
          sum += max + Math.log(logits[i].reduce((s, x) => s + Math.exp(x - max), 0)) - logits[i][context[i + 1]];
          n++;
        }
      }
      expect(point.perplexityTokens).toBe(n);
      expect(Math.abs(point.perplexity! / Math.exp(sum / n) - 1)).toBeLessThan(1e-4);
    }
  });

  it('cancels between prompts and tokens with CancelledError', async () => {
    const controller = new AbortController();
    let seen = 0;
    const run = runSweep({ model: live, promptSet, settings, models: { cp: 'cp', base: 'base', chat: 'chat' }, signal: controller.signal, onResponse: () => (++seen === 2 ? controller.abort() : undefined) });
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(seen).toBe(2);
  });

  it('refuses settings it cannot run, naming the field', async () => {
    const go = (over: Partial<SweepSettings>) => runSweep({ model: live, promptSet, settings: { ...settings, ...over }, models: { cp: 'cp', base: 'base', chat: 'chat' } });
    await expect(go({ alphas: [] })).rejects.toThrow('tensor "alphas": no α values');
    await expect(go({ alphas: [0, 0] })).rejects.toThrow('α = 0 is listed twice');
    await expect(go({ maxNewTokens: 0 })).rejects.toThrow('tensor "maxNewTokens": the sweep setting maxNewTokens is out of range; expected an integer from 1 to 4096, found 0');
    await expect(go({ repetitionPenalty: 0 })).rejects.toThrow('the sweep setting repetitionPenalty is out of range');
    await expect(go({ threshold: -0.1 })).rejects.toThrow('the threshold must be a rate from 0 to 1');
  });
});
