import { mkdtemp, readdir, readFile, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_OPTIONS, writeTriplet } from '../scripts/fixtures.ts';
import { CancelledError } from '../src/core/errors.ts';
import { openInputs } from '../src/core/inputs.ts';
import { defaultRecipe, type Recipe } from '../src/core/recipe.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { computeChatVectorStats } from '../src/core/stats/compute-chat-vector-stats.ts';
import type { ChatVectorStats } from '../src/core/stats/stats-report.ts';
import type { SourceSpec, StatsProgressInfo } from './contract.ts';
import { Studio } from './studio-api.ts';

const ORIGIN = 'http://studio.test/';
let dir: string;
/** What `chatvec stats --json` computes for the demo triplet on disk. */
let expected: ChatVectorStats;

const recipe = (patch: Partial<Recipe> = {}): Recipe => ({ ...defaultRecipe('local/cp', 'local/base', 'local/chat', 1), ...patch });

beforeAll(async () => {
  dir = await mkdtemp(join(tmpdir(), 'chatvec-studio-stats-'));
  await writeTriplet(join(dir, 'demo'), DEMO_OPTIONS);
  const inputs = await openInputs(recipe(), (ref) => new NodeFileTree(join(dir, 'demo', ref.slice('local/'.length))));
  try {
    expected = await computeChatVectorStats({ inputs, recipe: recipe() });
  } finally {
    await inputs.close();
  }
});
afterAll(() => rm(dir, { recursive: true, force: true }));

/** A demo model as dropped files: the studio knows it as local/<role>. */
async function dropped(role: string): Promise<SourceSpec> {
  const folder = join(dir, 'demo', role);
  const paths = await readdir(folder);
  return { kind: 'files', name: role, files: await Promise.all(paths.map(async (p) => new File([await readFile(join(folder, p))], p))), paths };
}

async function demoStudio(): Promise<Studio> {
  const studio = new Studio(`${ORIGIN}demo/`);
  for (const role of ['base', 'chat', 'cp']) await studio.loadSource(await dropped(role));
  return studio;
}

describe('Studio diagnostics', () => {
  it('gives the numbers the CLI gives, as plain data, with progress up to every byte', async () => {
    const studio = await demoStudio();
    const progress: StatsProgressInfo[] = [];
    const stats = await studio.stats(recipe(), 0, (p) => progress.push(p));
    expect(structuredClone(stats)).toEqual(stats);
    expect(stats).toEqual(expected);
    const last = progress.at(-1)!;
    expect(last.bytesDone).toBe(last.bytesTotal);
    expect(Object.keys(last).sort()).toEqual(['bytesDone', 'bytesPerSecond', 'bytesTotal', 'etaSeconds', 'file', 'tensor']);
  });

  it('answers again from the kept result, with actions planned for the new recipe, and forgets it for other models', async () => {
    const studio = await demoStudio();
    expect(await studio.cachedStats(recipe(), 0)).toBeNull();
    await studio.stats(recipe(), 0);

    const progress: StatsProgressInfo[] = [];
    const skipped = await studio.stats(recipe({ skip: ['*norm*'], vectors: [{ base: 'local/base', chat: 'local/chat', alpha: 0.3 }] }), 0, (p) => progress.push(p));
    expect(progress).toEqual([]);
    const norm = skipped.tensors.find((t) => t.name === 'model.norm.weight')!;
    expect([norm.action, norm.reason]).toEqual(['copy', 'skip pattern *norm*']);
    expect({ ...norm, action: 'merge', reason: 'merged' }).toEqual(expected.tensors.find((t) => t.name === 'model.norm.weight'));
    expect(skipped.layers).toEqual(expected.layers);

    // The same reference loaded again is another model: the kept result no longer applies.
    await studio.loadSource(await dropped('chat'));
    expect(await studio.cachedStats(recipe(), 0)).toBeNull();
    // Chat vector 1 of a recipe with one vector has no kept result either.
    expect(await studio.cachedStats(recipe(), 1)).toBeNull();
  });

  it('stops on cancelStats with a CancelledError, and can run again afterwards', async () => {
    const studio = await demoStudio();
    const run = studio.stats(recipe(), 0);
    studio.cancelStats();
    await expect(run).rejects.toBeInstanceOf(CancelledError);
    expect(await studio.cachedStats(recipe(), 0)).toBeNull();
    expect(await studio.stats(recipe(), 0)).toEqual(expected);
  });

  it('refuses a second pass while one runs', async () => {
    const studio = await demoStudio();
    const first = studio.stats(recipe(), 0);
    await expect(studio.stats(recipe(), 0)).rejects.toThrow('the diagnostics are already being computed');
    await first;
  });
});
