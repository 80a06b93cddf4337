import { mkdtemp, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_OPTIONS, writeTriplet } from '../scripts/fixtures.ts';
import { defaultRecipe, type EmbeddingPolicy } from '../src/core/recipe.ts';
import { MODEL_ROLES, Studio } from './studio-api.ts';

/** Load the three demo models the way the page does, one slot each. */
async function loadDemo(studio: Studio) {
  const loaded = [];
  for (const role of MODEL_ROLES) loaded.push(await studio.loadSource({ kind: 'demo', role }));
  return loaded;
}
const demoRecipe = (alpha = 1, embeddings: EmbeddingPolicy = 'overlap') => ({ ...defaultRecipe('demo/cp', 'demo/base', 'demo/chat', alpha), embeddings });

const ORIGIN = 'http://studio.test/';
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chatvec-studio-'));
  await writeTriplet(dir, DEMO_OPTIONS);
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A static server over `dir` at /demo/, answering unknown paths like `fallback` says. */
function demoFetch(opts: { hide?: string[]; fallback?: 'not-found' | 'index-html' } = {}): typeof fetch {
  return (async (input: string | URL | Request) => {
    const path = new URL(String(input)).pathname;
    const rel = path.replace(/^\/demo\//, '');
    const notFound = () => (opts.fallback === 'index-html' ? new Response('<!doctype html><title>Chat Vector Studio</title>', { status: 200, headers: { 'content-type': 'text/html' } }) : new Response('not found', { status: 404 }));
    if (!path.startsWith('/demo/') || opts.hide?.includes(rel)) return notFound();
    try {
      return new Response(await readFile(join(dir, rel)), { status: 200, headers: { 'content-type': 'application/octet-stream' } });
    } catch {
      return notFound();
    }
  }) as typeof fetch;
}

describe('Studio on the demo triplet', () => {
  it('summarises the three models from headers and config', async () => {
    const models = await loadDemo(new Studio(`${ORIGIN}demo/`, demoFetch()));
    expect(models.map((m) => [m.ref.slice(5), m.label, m.architecture, m.modelType, m.parameters, m.tensorCount, m.weightFileBytes, m.vocabSize, m.chatTemplate])).toEqual([
      ['base', 'demo/base', 'LlamaForCausalLM', 'llama', 235_584, 39, 475_200, 300, false],
      ['chat', 'demo/chat', 'LlamaForCausalLM', 'llama', 235_584, 39, 475_200, 300, true],
      ['cp', 'demo/cp', 'LlamaForCausalLM', 'llama', 236_608, 39, 477_248, 308, false],
    ]);
    expect(models[0].dtypes).toEqual([{ dtype: 'BF16', count: 39 }]);
    expect(models[2].files).toEqual(['config.json', 'generation_config.json', 'model.safetensors', 'special_tokens_map.json', 'tokenizer.json', 'tokenizer_config.json']);
  });

  it('plans the overlap policy: embeddings merged on the 300 shared rows', async () => {
    const studio = new Studio(`${ORIGIN}demo/`, demoFetch());
    await loadDemo(studio);
    const report = await studio.planRecipe(demoRecipe(1, 'overlap'));
    expect(structuredClone(report)).toEqual(report);
    expect(report.ok).toBe(true);
    expect(report.counts).toEqual({ merged: 37, mergedRows: 2, copied: 0, parameters: 236_608 });
    expect(report.totalOutputBytes).toBe(473_216);
    expect(report.numLayers).toBe(4);
    expect(report.issues).toEqual([
      {
        severity: 'info',
        code: 'vocab-overlap',
        message: "vocabulary sizes differ; α·τ is added to the 300 rows all models share, cp's other rows are kept bit-exact",
        tensors: ['model.embed_tokens.weight: rows 0–299 merged, rows 300–307 kept from cp', 'lm_head.weight: rows 0–299 merged, rows 300–307 kept from cp'],
      },
    ]);
    expect(report.tensors.find((t) => t.name === 'lm_head.weight')).toEqual({ name: 'lm_head.weight', action: 'merge', reason: 'rows 0–299 merged, rows 300–307 kept from cp', shape: [308, 64], dtype: 'BF16', alphas: [1] });
    expect(report.notes).toContain('chat_template taken from the chat model (demo/chat)');
  });

  it('plans the skip policy: cp keeps its embeddings, α is applied as given', async () => {
    const studio = new Studio(`${ORIGIN}demo/`, demoFetch());
    await loadDemo(studio);
    const report = await studio.planRecipe(demoRecipe(0.55, 'skip'));
    expect(report.counts).toEqual({ merged: 37, mergedRows: 0, copied: 2, parameters: 236_608 });
    expect(report.issues.map((i) => [i.severity, i.code, i.tensors, i.hint])).toEqual([
      ['info', 'vocab-kept', ['model.embed_tokens.weight', 'lm_head.weight'], 'Use the overlap policy to add α·τ to the rows all three models share'],
    ]);
    expect(report.tensors.find((t) => t.name === 'model.norm.weight')?.alphas).toEqual([Math.fround(0.55)]);
  });

  it('tolerates missing optional files, also when the server answers them with index.html', async () => {
    const studio = new Studio(`${ORIGIN}demo/`, demoFetch({ hide: ['chat/generation_config.json', 'base/tokenizer_config.json'], fallback: 'index-html' }));
    const models = await loadDemo(studio);
    expect(models[0].files).not.toContain('tokenizer_config.json');
    expect(models[1].files).not.toContain('generation_config.json');
    expect((await studio.planRecipe(demoRecipe())).counts.mergedRows).toBe(2);
  });

  it('says which required file is missing and how to get it', async () => {
    const studio = new Studio(`${ORIGIN}demo/`, demoFetch({ hide: ['cp/model.safetensors'] }));
    await expect(loadDemo(studio)).rejects.toThrow(
      'demo/cp/model.safetensors: the demo file is missing; expected it at /demo/cp/model.safetensors, found HTTP 404. Restore the demo models with `git checkout -- public/demo` (they are part of the repository; `node scripts/ensure-demo.mjs` checks them) and reload',
    );
  });

  it('refuses to plan before the models are loaded, and refuses a non-finite α', async () => {
    const studio = new Studio(`${ORIGIN}demo/`, demoFetch());
    await expect(studio.planRecipe(demoRecipe())).rejects.toThrow('demo/cp: this model is not loaded in the studio. Choose it again in its slot');
    await loadDemo(studio);
    await expect(studio.planRecipe(demoRecipe(Number.NaN))).rejects.toThrow('vectors[0].alpha');
  });
});
