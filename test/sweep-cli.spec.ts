/** `chatvec sweep`: output formats, exact agreement with runSweep called directly, bad input. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import * as ort from 'onnxruntime-web';
import { beforeAll, describe, expect, it, vi } from 'vitest';
import { writeTriplet } from '../scripts/fixtures.ts';
import { main } from '../src/cli/main.ts';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { LiveModel } from '../src/model/live-model.ts';
import { comparableSweepResult, RESPONSE_CSV_COLUMNS, sweepResponsesCsv } from '../src/sweep/export.ts';
import { parsePromptJsonl } from '../src/sweep/prompt-sets.ts';
import { runSweep } from '../src/sweep/run-sweep.ts';
import type { SweepResult } from '../src/sweep/types.ts';
import { tempDir, type Paths } from './helpers.ts';

/** `main` in this process, stdout and stderr captured. */
async function chatvec(args: string[]) {
  let stdout = '', stderr = '';
  const out = vi.spyOn(process.stdout, 'write').mockImplementation((chunk) => ((stdout += String(chunk)), true));
  const err = vi.spyOn(process.stderr, 'write').mockImplementation((chunk) => ((stderr += String(chunk)), true));
  try {
    return { code: await main(args), stdout, stderr };
  } finally {
    out.mockRestore();
    err.mockRestore();
  }
}

const JSONL = ['{"id": "greet", "text": "Say hello to the team."}', '{"text": "Name three colours, please."}', '{"prompt": "What is 2 + 2?"}'].join('\n');

describe('chatvec sweep', () => {
  let dir: string;
  let p: Paths;
  let promptsFile: string;
  let flags: string[];
  let json: SweepResult;
  beforeAll(async () => {
    dir = await tempDir('chatvec-sweep-cli-');
    p = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', layers: 2, seed: 29, weightStd: 0.1 });
    promptsFile = join(dir, 'prompts.jsonl');
    writeFileSync(promptsFile, JSONL);
    flags = ['--base', p.base, '--chat', p.chat, '--cp', p.cp, '--alphas', '0:1:0.5', '--prompts', promptsFile, '--lang', 'en', '--max-new-tokens', '5', '--system', 'Answer briefly.'];
    const r = await chatvec(['sweep', ...flags, '--json']);
    expect(r.stderr).toMatch(/^swept 3 α × 3 prompts in [\d.]+ s \(opening the triplet: [\d.]+ s\)\n$/);
    expect(r.code).toBe(0);
    json = JSON.parse(r.stdout);
  });

  it('--json is the SweepResult, and equals runSweep on a LiveModel called directly (timings and ids aside)', async () => {
    expect(json.chatvecSweep).toBe(1);
    expect(json.models).toEqual({ cp: p.cp, base: p.base, chat: p.chat });
    expect(json.settings).toEqual({ alphas: [0, 0.5, 1], maxNewTokens: 5, repetitionPenalty: 1, system: 'Answer briefly.', threshold: 0.9 });
    expect(json.promptSet).toEqual({ id: `user:${promptsFile}`, name: promptsFile, lang: 'en', source: `user-provided (${promptsFile})`, prompts: [{ id: 'greet', text: 'Say hello to the team.' }, { id: 'p02', text: 'Name three colours, please.' }, { id: 'p03', text: 'What is 2 + 2?' }] });
    expect(json.responses.length).toBe(9);
    expect(json.points.map((x) => x.perplexity)).toEqual([null, null, null]);

    const tree = (dirName: string) => new NodeFileTree(dirName);
    // Opened at another α than the sweep starts with: the direct run re-merges where the CLI started merged.
    const live = await LiveModel.open({ cp: tree(p.cp), base: tree(p.base), chat: tree(p.chat) }, { alpha: 0.3, ort, numThreads: 1 });
    try {
      const direct = await runSweep({ model: live, promptSet: parsePromptJsonl({ text: JSONL, file: promptsFile, lang: 'en' }), settings: json.settings, models: json.models });
      expect(comparableSweepResult(json)).toEqual(comparableSweepResult(JSON.parse(JSON.stringify(direct))));
    } finally {
      await live.close();
    }
  });

  it('--csv is the per-prompt CSV of the same result; the default is a table per α and the recommendation', async () => {
    const csv = await chatvec(['sweep', ...flags, '--csv']);
    expect(csv.code).toBe(0);
    expect(csv.stdout.split('\n')[0]).toBe(RESPONSE_CSV_COLUMNS.join(','));
    expect(csv.stdout).toBe(sweepResponsesCsv(json));

    const table = await chatvec(['sweep', ...flags]);
    expect(table.code).toBe(0);
    const lines = table.stdout.split('\n');
    expect(lines.slice(0, 3)).toEqual([
      `α sweep of user:${promptsFile} (${promptsFile}, 3 prompts, answers expected in en); greedy, at most 5 new tokens, with a system prompt`,
      `models: cp ${p.cp}, base ${p.base}, chat ${p.chat}`,
      'in the target language: more than half of the letters Latin (code left out)',
    ]);
    expect(lines[4].trim().split(/\s{2,}/)).toEqual(['α', 'target language', 'format (eos)', 'tokens', 'distinct-1', 'distinct-2', 'perplexity', 'time s']);
    json.points.forEach((pt, i) => {
      const cells = lines[5 + i].trim().split(/\s{2,}/);
      expect(cells.slice(0, 7)).toEqual([String(pt.alpha), `${Number((pt.targetLanguageRate * 100).toFixed(1))}% (${Math.round(pt.targetLanguageRate * 3)}/3)`, `${Number((pt.formatAdherence * 100).toFixed(1))}% (${Math.round(pt.formatAdherence * 3)}/3)`, pt.meanResponseTokens.toFixed(1), pt.meanDistinct1.toFixed(3), pt.meanDistinct2.toFixed(3), '-']);
    });
    expect(lines[9]).toBe(`${json.recommendation.alpha === null ? 'no α recommended' : `recommended: α = ${json.recommendation.alpha}`} (target-language rate ≥ 90%)`);
    expect(lines[10]).toBe(json.recommendation.reasoning);
  });

  it('builtin sets: --lang defaults to the set\'s language; perplexity on its held-out paragraph', async () => {
    const r = await chatvec(['sweep', '--base', p.base, '--chat', p.chat, '--cp', p.cp, '--alphas', '1', '--prompts', 'builtin:ja', '--max-new-tokens', '2', '--json']);
    expect(r.code).toBe(0);
    const out: SweepResult = JSON.parse(r.stdout);
    expect(out.promptSet.id).toBe('builtin:ja');
    expect(out.promptSet.lang).toBe('ja');
    expect(out.responses.length).toBe(20);
    expect(out.points[0].perplexity).toBeGreaterThan(1);
    expect(out.points[0].perplexityTokens).toBeGreaterThan(200);
  });

  it('bad input: usage errors exit 2, a bad prompt file exits 1, each naming what is wrong', async () => {
    const base = ['sweep', '--base', p.base, '--chat', p.chat, '--cp', p.cp];
    const usage = async (args: string[], message: string) => {
      const r = await chatvec([...base, ...args]);
      expect(r.code, args.join(' ')).toBe(2);
      expect(r.stderr).toContain(`chatvec: ${message}`);
    };
    await usage(['--alphas', '0,x', '--prompts', 'builtin:ko'], '--alphas: "x" is not a number; expected finite numbers, found "0,x". Write a comma-separated list like 0,0.25,0.5 or a range from:to:step like 0:1:0.25');
    await usage(['--alphas', '1:0:0.25', '--prompts', 'builtin:ko'], '--alphas: a range must not end before it starts; expected to ≥ from (1), found 0');
    await usage(['--alphas', '0,1,0', '--prompts', 'builtin:ko'], '--alphas: α = 0 is listed twice; expected distinct values, found 0 again');
    await usage(['--prompts', 'builtin:ko'], '--alphas is required (e.g. --alphas 0,0.5,1 or --alphas 0:1:0.25)');
    await usage(['--alphas', '0,1'], '--prompts is required (builtin:ko, builtin:zh-Hant, builtin:zh-Hans, builtin:ja, builtin:en or a JSONL file)');
    await usage(['--alphas', '0,1', '--prompts', promptsFile], '--lang is required with a prompt file (ko, zh-Hant, zh-Hans, ja, en): it says which language the answers should be in');
    await usage(['--alphas', '0,1', '--prompts', promptsFile, '--lang', 'fr'], '--lang must be one of ko, zh-Hant, zh-Hans, ja, en, not "fr"');
    await usage(['--alphas', '0,1', '--prompts', 'builtin:ja', '--lang', 'ko'], '--lang ko does not match builtin:ja, whose prompts are in ja');
    await usage(['--alphas', '0,1', '--prompts', 'builtin:fr'], '--prompts: there is no builtin:fr; the bundled sets are builtin:ko, builtin:zh-Hant, builtin:zh-Hans, builtin:ja, builtin:en');
    await usage(['--alphas', '0,1', '--prompts', 'builtin:ko', '--threshold', '1.5'], '--threshold must be a rate from 0 to 1 (e.g. 0.9), not "1.5"');
    await usage(['--alphas', '0,1', '--prompts', 'builtin:ko', '--max-new-tokens', '0'], '--max-new-tokens must be an integer from 1 to 4096, not "0"');
    await usage(['--alphas', '0,1', '--prompts', 'builtin:ko', '--json', '--csv'], 'give --json or --csv, not both');

    const badFile = join(dir, 'bad.jsonl');
    writeFileSync(badFile, '{"text": "fine"}\n{"text": "missing quote}\n');
    const r = await chatvec([...base, '--alphas', '0,1', '--prompts', badFile, '--lang', 'ko']);
    expect(r.code).toBe(1);
    expect(r.stderr).toMatch(new RegExp(`^chatvec: error: ${badFile.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}, tensor "line 2": line 2 is not JSON; expected a JSON object, found \\{"text": "missing quote\\} \\(.+\\)\\. Write one JSON object per line`));
    const missing = await chatvec([...base, '--alphas', '0', '--prompts', join(dir, 'nope.jsonl'), '--lang', 'ko']);
    expect(missing.code).toBe(1);
    expect(missing.stderr).toContain('nope.jsonl: cannot read the prompt file. Give a JSONL file, or a bundled set such as builtin:ko');
  });
});
