/**
 * α-sweep benchmark (issue #6): `npm run bench:sweep [-- options]`.
 *
 * Runs `runSweep` (src/sweep/run-sweep.ts) the way `chatvec sweep` does: the triplet merged in memory by
 * LiveModel (wasm EP, f32 weights, 1 thread), 7 α values 0, 0.25, …, 1.5, 20 prompts of a bundled set,
 * greedy, at most 32 new tokens each, plus perplexity on the set's held-out paragraph at every α.
 *
 * Reported: the sweep's wall time (target ≤ 60 s) and, measured in the same run, the baseline: the time of
 * the same 140 generations and 7 perplexity passes (the work the sweep exists for) without the 7
 * re-merges + session rebinds. ratio = wall / baseline is what re-merging per α adds. Opening the triplet
 * (reading cp and τ once, first session) is reported apart: the studio has it open already.
 *
 * options:
 *   --triplet DIR     folder with base/, chat/, cp/ (default public/demo)
 *   --prompts REF     bundled set (default builtin:zh-Hans)
 *   --reps N          sweeps to run one after another (default 1); every one is reported
 *   --out FILE        also write the JSON (indented) to FILE
 *
 * Prints a table and one JSON line (the last line of stdout).
 */
import { createHash } from 'node:crypto';
import { readFile, writeFile } from 'node:fs/promises';
import os from 'node:os';
import { join, relative } from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import * as ort from 'onnxruntime-web';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { LiveModel } from '../src/model/live-model.ts';
import { parseAlphaList } from '../src/sweep/alphas.ts';
import { builtinPromptSet } from '../src/sweep/prompt-sets.ts';
import { runSweep } from '../src/sweep/run-sweep.ts';
import type { SweepPoint, SweepResult, SweepSettings } from '../src/sweep/types.ts';

const ROOT = join(fileURLToPath(new URL('.', import.meta.url)), '..');

export interface SweepBenchRun {
  wallMs: number;
  /** Σ re-merge + rebind over the α values. */
  alphaChangeMs: number;
  /** Σ generation + Σ perplexity: the same work without re-merging. */
  baselineMs: number;
  generateMs: number;
  perplexityMs: number;
  ratio: number;
  newTokens: number;
  /** New tokens per second of generation time (prefill included). */
  generatedTokensPerSecond: number;
}

async function main() {
  const { values } = parseArgs({ options: { triplet: { type: 'string' }, prompts: { type: 'string' }, reps: { type: 'string' }, out: { type: 'string' } } });
  const dir = values.triplet ?? join(ROOT, 'public', 'demo');
  const promptSet = builtinPromptSet(values.prompts ?? 'builtin:zh-Hans');
  if (!promptSet) throw new Error(`unknown prompt set ${values.prompts}`);
  const reps = Number(values.reps ?? 1);
  const settings: SweepSettings = { alphas: parseAlphaList('0:1.5:0.25'), maxNewTokens: 32, repetitionPenalty: 1, system: '', threshold: 0.9 };
  const cpWeights = await readFile(join(dir, 'cp', 'model.safetensors'));
  const config = JSON.parse(await readFile(join(dir, 'cp', 'config.json'), 'utf8')) as Record<string, unknown>;

  const tree = (role: string) => new NodeFileTree(join(dir, role));
  const t0 = performance.now();
  const live = await LiveModel.open({ cp: tree('cp'), base: tree('base'), chat: tree('chat') }, { alpha: settings.alphas[0], ort, numThreads: 1, executionProviders: ['wasm'] });
  const openMs = performance.now() - t0;
  const runs: SweepBenchRun[] = [];
  let last: SweepResult | undefined;
  try {
    for (let i = 0; i < reps; i++) {
      // Start away from the first α, so that all 7 α values are re-merged (as from the studio's slider at another α).
      await live.setAlpha(1);
      last = await runSweep({ model: live, promptSet, settings, models: { cp: `${dir}/cp`, base: `${dir}/base`, chat: `${dir}/chat` } });
      const points = last.points;
      const sum = (f: (p: SweepPoint) => number) => points.reduce((total, p) => total + f(p), 0);
      const generateMs = sum((p) => p.generateMs), perplexityMs = sum((p) => p.perplexityMs ?? 0), alphaChangeMs = sum((p) => p.alphaChangeMs);
      const newTokens = last.responses.reduce((s, r) => s + r.ids.length, 0);
      runs.push({ wallMs: last.elapsedMs, alphaChangeMs, baselineMs: generateMs + perplexityMs, generateMs, perplexityMs, ratio: last.elapsedMs / (generateMs + perplexityMs), newTokens, generatedTokensPerSecond: newTokens / (generateMs / 1000) });
    }
  } finally {
    await live.close();
  }

  const triplet = {
    dir: relative(ROOT, dir) || dir,
    parameters: live.folder.model.parameterCount,
    config: `${config.architectures}, hidden ${config.hidden_size}, ${config.num_hidden_layers} layers, ${config.num_attention_heads}/${config.num_key_value_heads} heads, intermediate ${config.intermediate_size}, vocab ${config.vocab_size}`,
    cpSha256: createHash('sha256').update(cpWeights).digest('hex').slice(0, 16),
  };
  const out = {
    date: new Date().toISOString(),
    machine: `${os.cpus()[0]?.model ?? '?'}, ${os.cpus().length} cores, load average ${os.loadavg().map((x) => x.toFixed(2)).join(' ')} at the end`,
    triplet,
    promptSet: promptSet.id,
    alphas: settings.alphas,
    prompts: promptSet.prompts.length,
    maxNewTokens: settings.maxNewTokens,
    openMs,
    runs,
    points: last!.points.map((p) => ({ alpha: p.alpha, targetLanguageRate: p.targetLanguageRate, formatAdherence: p.formatAdherence, meanResponseTokens: p.meanResponseTokens, perplexity: p.perplexity, alphaChangeMs: p.alphaChangeMs, generateMs: p.generateMs, perplexityMs: p.perplexityMs })),
    recommendation: last!.recommendation,
  };
  const s = (ms: number) => `${(ms / 1000).toFixed(1)} s`;
  console.log(`triplet ${triplet.dir}: ${triplet.config}, ${triplet.parameters.toLocaleString('en-US')} parameters (cp sha256 ${triplet.cpSha256}…)`);
  console.log(`${settings.alphas.length} α × ${promptSet.prompts.length} prompts (${promptSet.id}) × ≤ ${settings.maxNewTokens} new tokens + perplexity; open ${s(openMs)}`);
  for (const [i, r] of runs.entries()) {
    console.log(`run ${i + 1}: sweep ${s(r.wallMs)} (target ≤ 60 s); baseline (same generations + perplexity, no re-merge) ${s(r.baselineMs)}; re-merge + rebind ${s(r.alphaChangeMs)}; ratio ${r.ratio.toFixed(3)}; ${r.newTokens} new tokens at ${r.generatedTokensPerSecond.toFixed(0)} tok/s`);
  }
  console.log(`recommendation: ${last!.recommendation.reasoning}`);
  if (values.out) await writeFile(values.out, JSON.stringify(out, null, 2) + '\n');
  console.log(JSON.stringify(out));
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) await main();
