import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTriplet, writeModel, writeTriplet, type ModelSpec } from '../scripts/fixtures.ts';
import { openInputs } from '../src/core/inputs.ts';
import { planMerge } from '../src/core/plan.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { mergeTo, recipeFor, tempDir, type Paths } from './helpers.ts';
import { readModel } from './reference.ts';

async function planFor(p: Paths, over = {}) {
  const recipe = recipeFor(p, over);
  const inputs = await openInputs(recipe, (r) => new NodeFileTree(r));
  try {
    return planMerge(inputs, recipe);
  } finally {
    await inputs.close();
  }
}

describe('plan', () => {
  let dir: string;
  beforeAll(async () => {
    dir = await tempDir();
  });

  it('config mismatches and non-embedding shape mismatches are errors listing the tensors', async () => {
    const a = await writeTriplet(join(dir, 'a'), { arch: 'llama', dtype: 'BF16', layers: 2, seed: 1 });
    const b = await writeTriplet(join(dir, 'b'), { arch: 'llama', dtype: 'BF16', layers: 2, intermediate: 96, seed: 1 });
    const plan = await planFor({ base: a.base, chat: a.chat, cp: b.cp });
    const cfg = plan.issues.find((i) => i.code === 'config-mismatch')!;
    expect(cfg.severity).toBe('error');
    expect(cfg.tensors).toEqual(['intermediate_size: cp=96, base=128, chat=128']);
    const shapes = plan.issues.find((i) => i.code === 'shape-mismatch')!;
    expect(shapes.message).toBe('6 tensor(s) have different shapes in base, chat and cp and are not embeddings');
    expect(shapes.tensors[0]).toBe('model.layers.0.mlp.gate_proj.weight: cp [96, 64], base [128, 64], chat [128, 64]');
    await expect(mergeTo(recipeFor({ base: a.base, chat: a.chat, cp: b.cp }), join(dir, 'never'))).rejects.toThrow('the merge plan has 2 error(s): config.json values differ between the models (intermediate_size: cp=96, base=128, chat=128); 6 tensor(s) have different shapes in base, chat and cp and are not embeddings (model.layers.0.mlp.gate_proj.weight: cp [96, 64], base [128, 64], chat [128, 64]; model.layers.0.mlp.up_proj.weight: cp [96, 64], base [128, 64], chat [128, 64]; …). A chat vector only transfers between models of one architecture');
  });

  it('cp with tied embeddings: lm_head of base/chat is reported as not in the output', async () => {
    const untied = await writeTriplet(join(dir, 'u'), { arch: 'llama', dtype: 'BF16', layers: 2, seed: 4 });
    const tied = await writeTriplet(join(dir, 't'), { arch: 'llama', dtype: 'BF16', layers: 2, seed: 4, tiedEmbeddings: true });
    const p = { base: untied.base, chat: untied.chat, cp: tied.cp };
    const plan = await planFor(p);
    const w = plan.issues.find((i) => i.code === 'missing-in-cp')!;
    expect(w).toMatchObject({ severity: 'warning', tensors: ['lm_head.weight'], hint: 'cp ties its input and output embeddings, so lm_head comes from model.embed_tokens' });
    await mergeTo(recipeFor(p), join(dir, 'tied-out'));
    expect(readModel(join(dir, 'tied-out')).has('lm_head.weight')).toBe(false);
    // the other way round: only cp has lm_head → copied with a warning
    const plan2 = await planFor({ base: tied.base, chat: tied.chat, cp: untied.cp });
    expect(plan2.issues.find((i) => i.code === 'only-in-cp')).toMatchObject({ severity: 'warning', tensors: ['lm_head.weight'] });
    expect(plan2.entries.find((e) => e.name === 'lm_head.weight')).toMatchObject({ action: 'copy', reason: 'only in cp' });
  });

  it('non-float tensors are copied from cp when base and chat agree, and refused when they differ', async () => {
    const t = buildTriplet({ arch: 'llama', dtype: 'F16', layers: 2, seed: 6 });
    const ids = (v: number) => new Uint8Array(new BigInt64Array([0n, 1n, BigInt(v)]).buffer);
    const withBuf = (m: ModelSpec, v: number): ModelSpec => ({ ...m, tensors: [...m.tensors, { name: 'model.position_ids', dtype: 'I64', shape: [3], data: ids(v) }] });
    const paths = { base: join(dir, 'nf', 'base'), chat: join(dir, 'nf', 'chat'), cp: join(dir, 'nf', 'cp') };
    await writeModel(paths.base, withBuf(t.base, 2));
    await writeModel(paths.chat, withBuf(t.chat, 2));
    await writeModel(paths.cp, withBuf(t.cp, 7));
    await mergeTo(recipeFor(paths), join(dir, 'nf-out'));
    expect([...readModel(join(dir, 'nf-out')).get('model.position_ids')!.bytes]).toEqual([...ids(7)]);
    await writeModel(paths.chat, withBuf(t.chat, 3));
    await expect(mergeTo(recipeFor(paths), join(dir, 'nf-out2'))).rejects.toThrow(`tensor "model.position_ids": non-float tensor differs between base and chat, so the chat vector cannot be applied to it; expected identical bytes in base and chat, found a difference at byte 16. Keep it from cp with --skip 'model.position_ids'`);
  });
});
