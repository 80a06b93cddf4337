/** Generation: `chatvec generate`, the ChatSession's cache reuse across turns, rebinding weights. */
import { spawnSync } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { buildTriplet, writeModel } from '../scripts/fixtures.ts';
import { ChatvecError } from '../src/core/errors.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { renderChatPrompt } from '../src/model/chat-template.ts';
import { ChatSession, generateIds } from '../src/model/generate.ts';
import { ReferenceDecoder } from '../src/model/reference-forward.ts';
import { seededRng } from '../src/model/sampling.ts';
import { choosePreviewBackend, openPreviewFolder, PreviewModel, type PreviewFolder } from '../src/model/session.ts';
import { main } from '../src/cli/main.ts';
import { folderWeights, tempDir } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

function chatvec(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

/** `main` in this process (no node + tsx start-up), with stdout and stderr captured. */
async function chatvecInProcess(args: string[]) {
  let stdout = '', stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    const code = await main(args);
    return { code, stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

/** The folder's weights as f32, read the way the preview reads them. */
describe('generation', () => {
  let dir: string;
  let chatDir: string;
  let folder: PreviewFolder;
  let reference: ReferenceDecoder;

  beforeAll(async () => {
    dir = await tempDir('chatvec-generate-');
    const triplet = buildTriplet({ arch: 'qwen2', dtype: 'BF16', seed: 21, weightStd: 0.1, tiedEmbeddings: true });
    chatDir = join(dir, 'chat');
    await writeModel(chatDir, triplet.chat);
    await writeModel(join(dir, 'base'), triplet.base);
    folder = await openPreviewFolder(new NodeFileTree(chatDir), { numThreads: 1 });
    ({ reference } = await folderWeights(chatDir));
  });

  it('chatvec generate --greedy --json: the reference forward pass\'s greedy ids, prompt through the chat template', async () => {
    const r = chatvec(['generate', '--model', chatDir, '--prompt', 'Tell me the weather.', '--greedy', '--max-new-tokens', '12', '--json']);
    expect(r.stderr).toMatch(/^12 tokens \(max-new-tokens\); prefill \d+ tokens at [\d.]+ tok\/s, decode [\d.]+ tok\/s/m);
    expect(r.code).toBe(0);
    const out = JSON.parse(r.stdout) as { prompt_ids: number[]; ids: number[]; text: string };
    const rendered = renderChatPrompt(folder.tokenizerConfig, [{ role: 'user', content: 'Tell me the weather.' }], { addGenerationPrompt: true });
    expect(out.prompt_ids).toEqual(folder.tokenizer.encode(rendered, { addSpecialTokens: false }));
    expect(out.prompt_ids[0]).toBe(folder.tokenizer.bosTokenId);
    expect(out.ids).toEqual(reference.greedy(out.prompt_ids, 12, folder.tokenizer.eosTokenIds));
    expect(out.text).toBe(folder.tokenizer.decode(out.ids, { skipSpecialTokens: true }));
  });

  it('chatvec generate --raw; --messages streams text; bad flags exit 2', async () => {
    const raw = await chatvecInProcess(['generate', '--model', chatDir, '--prompt', 'Once upon', '--raw', '--greedy', '--max-new-tokens', '6', '--json']);
    expect(raw.code).toBe(0);
    const rawOut = JSON.parse(raw.stdout);
    expect(rawOut.prompt_ids).toEqual(folder.tokenizer.encode('Once upon', { addSpecialTokens: true }));
    expect(rawOut.ids).toEqual(reference.greedy(rawOut.prompt_ids, 6, folder.tokenizer.eosTokenIds));

    const file = join(dir, 'messages.json');
    const messages = [{ role: 'system' as const, content: 'Be brief.' }, { role: 'user' as const, content: 'Hi' }];
    writeFileSync(file, JSON.stringify(messages));
    const streamed = await chatvecInProcess(['generate', '--model', chatDir, '--messages', file, '--max-new-tokens', '5']);
    expect(streamed.code).toBe(0);
    expect(streamed.stderr).toContain('5 tokens (max-new-tokens)');
    const promptIds = folder.tokenizer.encode(renderChatPrompt(folder.tokenizerConfig, messages), { addSpecialTokens: false });
    // generation_config.json has do_sample false: greedy.
    const greedy = reference.greedy(promptIds, 5, folder.tokenizer.eosTokenIds);
    expect(streamed.stdout).toBe(folder.tokenizer.decode(greedy, { skipSpecialTokens: true }) + '\n');

    const conflicting = await chatvecInProcess(['generate', '--model', chatDir, '--prompt', 'x', '--greedy', '--temperature', '0.7']);
    expect(conflicting.code).toBe(2);
    expect(conflicting.stderr).toContain('chatvec: --greedy takes no --temperature, --top-p or --seed');
    expect((await chatvecInProcess(['generate', '--model', chatDir, '--prompt', 'x', '--messages', file])).stderr).toContain('chatvec: give one of --prompt or --messages');
    expect((await chatvecInProcess(['generate', '--model', chatDir, '--prompt', 'x', '--max-new-tokens', '0'])).stderr).toContain('chatvec: --max-new-tokens must be a positive integer, not "0"');
    writeFileSync(file, JSON.stringify([{ role: 'robot', content: 'Hi' }]));
    const bad = await chatvecInProcess(['generate', '--model', chatDir, '--messages', file]);
    expect(bad.code).toBe(1);
    expect(bad.stderr).toContain('the messages file is not a list of chat messages');
  });

  it('a second turn reuses the cached prefix; an edited history re-runs from the first difference; results equal a fresh run', async () => {
    const { model, tokenizer } = folder;
    const session = new ChatSession(model, tokenizer);
    const turn1 = [7, 40, 41, 42, 43, 44];
    const ids1: number[] = [];
    for await (const t of session.generate(turn1, { maxNewTokens: 5 })) ids1.push(t.id);
    expect(ids1).toEqual(reference.greedy(turn1, 5));
    // The last generated token was never fed back, so the cache holds prompt + 4.
    expect(session.cachedLength).toBe(turn1.length + 4);

    const turn2 = [...turn1, ...ids1, 50, 51, 52];
    const ids2: number[] = [];
    for await (const t of session.generate(turn2, { maxNewTokens: 6 })) ids2.push(t.id);
    expect(session.lastStats!.reusedTokens).toBe(turn1.length + 4);
    expect(ids2).toEqual(reference.greedy(turn2, 6));

    const edited = [...turn1.slice(0, 3), 99, 98, ...turn2.slice(5)];
    const ids3: number[] = [];
    // Prefill in chunks of 3 tokens: same result as one pass.
    for await (const t of session.generate(edited, { maxNewTokens: 4, prefillChunk: 3 })) ids3.push(t.id);
    expect(session.lastStats!.reusedTokens).toBe(3);
    expect(ids3).toEqual(reference.greedy(edited, 4));

    // The same prompt again: everything but the last prompt token is reused.
    const again: number[] = [];
    for await (const t of session.generate(edited, { maxNewTokens: 4 })) again.push(t.id);
    expect(session.lastStats!.reusedTokens).toBe(edited.length - 1);
    expect(again).toEqual(ids3);
  });

  it('stops at an eos id; seeded sampling repeats', async () => {
    const prompt = [3, 100, 101, 102];
    const greedy = reference.greedy(prompt, 8);
    const k = greedy.findIndex((id, i) => i > 0 && !greedy.slice(0, i).includes(id));
    expect(k).toBeGreaterThan(0);
    const stopped = await generateIds(folder.model, prompt, { maxNewTokens: 8, eosTokenIds: [greedy[k]] });
    expect(stopped.ids).toEqual(greedy.slice(0, k + 1));
    expect(stopped.stats.stopReason).toBe('eos');
    const sample = (seed: number) => generateIds(folder.model, prompt, { maxNewTokens: 8, sampling: { temperature: 1.5, rng: seededRng(seed) } });
    const a = await sample(5), b = await sample(5);
    expect(a.ids).toEqual(b.ids);
    expect(a.stats.stopReason).toBe('max-new-tokens');
  });

  it('rebind swaps in other weights (live α) without rebuilding the graph', async () => {
    const base = await folderWeights(join(dir, 'base'));
    const config = JSON.parse(readFileSync(join(chatDir, 'config.json'), 'utf8'));
    const missing = new Map(base.weights);
    missing.delete('model.layers.1.mlp.up_proj.weight');
    const err = await PreviewModel.create({ config, weights: missing }).catch((e) => e);
    expect(err).toBeInstanceOf(ChatvecError);
    expect(err.message).toBe('tensor "model.layers.1.mlp.up_proj.weight": a weight the preview needs is missing; expected shape [128, 64], found no such tensor');
    const prompt = [9, 8, 7, 6, 5];
    const preview = await openPreviewFolder(new NodeFileTree(chatDir), { numThreads: 1 });
    const graphBytes = preview.model.graph.modelBytes;
    expect((await generateIds(preview.model, prompt, { maxNewTokens: 6 })).ids).toEqual(reference.greedy(prompt, 6));
    const timings = await preview.model.rebind(base.weights);
    expect(timings.sessionMs).toBeGreaterThan(0);
    expect(preview.model.graph.modelBytes).toBe(graphBytes);
    const afterIds = (await generateIds(preview.model, prompt, { maxNewTokens: 6 })).ids;
    expect(afterIds).toEqual(base.reference.greedy(prompt, 6));
    await preview.model.release();
  });

  it('architectures outside the preview fail with an actionable error', async () => {
    const spec = buildTriplet({ arch: 'llama', dtype: 'F32' }).chat;
    const gptDir = join(dir, 'gpt2');
    await writeModel(gptDir, { ...spec, config: { ...spec.config, architectures: ['GPT2LMHeadModel'], model_type: 'gpt2' } });
    await expect(openPreviewFolder(new NodeFileTree(gptDir))).rejects.toThrow(
      'config.json, tensor "architectures": this architecture is not supported for preview; expected one of LlamaForCausalLM, MistralForCausalLM, Qwen2ForCausalLM, Qwen3ForCausalLM, found GPT2LMHeadModel. Merging still works; chat with the merged model in another runtime',
    );
  });
});

describe('choosePreviewBackend', () => {
  it('WebGPU + f16 + GPU-held cache with shader-f16, else wasm + f32', async () => {
    const gpu = (features: string[]) => ({ requestAdapter: async () => ({ features: new Set(features) }) });
    expect(await choosePreviewBackend(gpu(['shader-f16']))).toEqual({ executionProviders: ['webgpu', 'wasm'], weightDtype: 'f16', kvOnGpu: true });
    expect(await choosePreviewBackend(gpu([]))).toEqual({ executionProviders: ['wasm'], weightDtype: 'f32' });
    expect(await choosePreviewBackend({ requestAdapter: async () => null })).toEqual({ executionProviders: ['wasm'], weightDtype: 'f32' });
    expect(await choosePreviewBackend(undefined)).toEqual({ executionProviders: ['wasm'], weightDtype: 'f32' });
  });
});
