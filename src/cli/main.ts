#!/usr/bin/env node
import { parseArgs, type ParseArgsConfig } from 'node:util';
import { existsSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { loadCheckpoint, parseJsonObject } from '../core/checkpoint.ts';
import { summarizeCheckpoint } from '../core/summary.ts';
import { CancelledError, ChatvecError } from '../core/errors.ts';
import { openInputs } from '../core/inputs.ts';
import { mergeRecipe } from '../core/merge-recipe.ts';
import type { BackendChoice, BackendReport } from '../core/merge/kernel.ts';
import { buildSideFiles } from '../core/output-files.ts';
import { computeChatVectorStats } from '../core/stats/compute-chat-vector-stats.ts';
import { formatStatsCsv, formatStatsTable } from '../core/stats/format-stats.ts';
import { hasErrors, planMerge, type MergePlan } from '../core/plan.ts';
import { defaultRecipe, parseSize, type Recipe } from '../core/recipe.ts';
import { parseRecipeFile } from '../core/recipe-io.ts';
import { readText } from '../core/sources/byte-source.ts';
import { NodeFileTree } from '../core/sources/node-fs.ts';
import type { FileTree } from '../core/sources/byte-source.ts';
import { HubTree } from '../hub/hub-tree.ts';
import { parseHubRef } from '../hub/parse-ref.ts';
import { NodeOutputFolder } from '../core/sources/node-output.ts';
import { TOOL_VERSION } from '../core/version.ts';
import { formatBytes, progressReporter } from './progress.ts';

const USAGE = `chatvec ${TOOL_VERSION} — Chat Vector merges: θ = θ_cp + α·(θ_chat − θ_base)

usage:
  chatvec inspect DIR [--json]
  chatvec plan  --base B --chat C --cp P [--alpha A] [merge options] [--json]
  chatvec merge --base B --chat C --cp P --alpha A --out O [merge options] [--force] [--resume]
  chatvec merge RECIPE.(yaml|json) --out O [--force] [--resume]
  chatvec stats --base B --chat C --cp P [--json|--csv] [--embeddings overlap|skip] [--skip GLOB]… [--backend cpu|gpu]
  chatvec generate --model DIR (--prompt TEXT | --messages FILE.json) [--raw] [--max-new-tokens N]
                   [--greedy | --temperature T --top-p P --seed S] [--json]
  chatvec prompt --model DIR --messages FILE.json [--no-generation-prompt]
  chatvec sweep --base B --chat C --cp P --alphas LIST --prompts (builtin:LANG | FILE.jsonl) [--lang LANG]
                [--max-new-tokens N] [--threshold T] [--system TEXT] [--json|--csv]

merge options:
  --embeddings overlap|skip   vocabulary tensors whose rows differ: add α·τ on shared rows (default) or keep cp's
  --skip GLOB                 keep matching tensors from cp (repeatable), e.g. '*norm*'
  --dtype auto|bf16|f16|f32   output dtype (default auto: cp's dtype per tensor)
  --shard-size SIZE           largest output shard (default 2GB)
  --copy-token-rows LIST      comma-separated special tokens whose embedding rows are copied from chat
  --backend auto|cpu|gpu      merge: where the arithmetic runs (default cpu; gpu = WebGPU; auto times both, keeps the faster)

stats: ‖τ‖ (τ = chat − base), ‖τ‖/‖cp‖, cos(τ, cp − base) and sign agreement per layer, module and tensor;
  --json all of it, --csv one row per tensor; --backend gpu reduces on WebGPU (f32 partial sums: norms and cosine
  within 1e-5 of the CPU's, counts exact; CPU when there is no adapter or the device is lost), default cpu

generate: chat with a model folder as the studio's preview does (ONNX graph from config.json, onnxruntime-web
  wasm); --prompt is one user message through the chat template, --raw skips the template, --messages reads
  [{"role": "user", "content": "…"}, …]; greedy unless generation_config.json samples or sampling flags are given;
  --json prints {"prompt_ids", "ids", "text"}

prompt: the model's chat template (chat_template.jinja, else tokenizer_config.json) applied to the messages,
  printed exactly as rendered, with no newline added; the assistant header is added unless --no-generation-prompt

sweep: merge in memory at each α of LIST (0,0.25,0.5 or from:to:step like 0:1:0.25), answer every prompt greedily
  (default 64 new tokens), and measure the share of answers in the target language, eos within the limit, length,
  distinct-1/2 and perplexity on held-out text; recommends the highest α whose target-language rate is ≥ T
  (default 0.9). LANG: ko, zh-Hant, zh-Hans, ja, en (builtin:LANG sets it; required with a file of
  {"text": "…"} lines). Prints a table per α; --json the whole result, --csv one row per (α, prompt)

models: a local folder, or a Hugging Face Hub repository owner/name[@revision] (also hf://owner/name);
  HF_ENDPOINT sets the Hub endpoint (mirrors), HF_TOKEN the access token for gated or private repositories.

exit status: 0 ok, 1 failure, 2 usage`;

class UsageError extends Error {}

const OPTIONS: ParseArgsConfig['options'] = {
  base: { type: 'string' }, chat: { type: 'string' }, cp: { type: 'string' }, alpha: { type: 'string' }, out: { type: 'string' },
  embeddings: { type: 'string' }, skip: { type: 'string', multiple: true }, dtype: { type: 'string' }, 'shard-size': { type: 'string' },
  backend: { type: 'string' },
  'copy-token-rows': { type: 'string' }, force: { type: 'boolean' }, resume: { type: 'boolean' }, json: { type: 'boolean' },
  csv: { type: 'boolean' }, help: { type: 'boolean', short: 'h' }, version: { type: 'boolean' },
  model: { type: 'string' }, prompt: { type: 'string' }, messages: { type: 'string' }, raw: { type: 'boolean' }, 'max-new-tokens': { type: 'string' },
  greedy: { type: 'boolean' }, temperature: { type: 'string' }, 'top-p': { type: 'string' }, seed: { type: 'string' },
  'no-generation-prompt': { type: 'boolean' },
  alphas: { type: 'string' }, prompts: { type: 'string' }, lang: { type: 'string' }, threshold: { type: 'string' }, system: { type: 'string' },
};

type Values = Record<string, string | boolean | string[] | undefined>;

export async function main(argv: string[]): Promise<number> {
  let parsed;
  try {
    parsed = parseArgs({ args: argv, options: OPTIONS, allowPositionals: true, strict: true });
  } catch (e) {
    process.stderr.write(`chatvec: ${(e as Error).message}\n\n${USAGE}\n`);
    return 2;
  }
  const { values, positionals } = parsed as { values: Values; positionals: string[] };
  if (values.version) {
    process.stdout.write(`${TOOL_VERSION}\n`);
    return 0;
  }
  const [cmd, ...rest] = positionals;
  if (values.help || !cmd) {
    process.stdout.write(`${USAGE}\n`);
    return values.help ? 0 : 2;
  }
  try {
    switch (cmd) {
      case 'inspect':
        return await inspect(rest, values);
      case 'plan':
        return await planCmd(rest, values);
      case 'merge':
        return await mergeCmd(rest, values);
      case 'stats':
        return await statsCmd(rest, values);
      case 'generate':
        // Loaded on demand: the tokenizer, template engine and ORT are only needed here.
        return await (await import('./generate-command.ts')).generateCmd(rest, values, (m) => new UsageError(m));
      case 'prompt':
        return await promptCmd(rest, values);
      case 'sweep':
        return await (await import('./sweep-command.ts')).sweepCmd(rest, values, (m) => new UsageError(m), (ref) => modelTree(process.cwd(), ref));
      default:
        throw new UsageError(`unknown command "${cmd}"`);
    }
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`chatvec: ${e.message}\n\n${USAGE}\n`);
      return 2;
    }
    if (e instanceof CancelledError) {
      process.stderr.write('chatvec: cancelled; run the same command with --resume to continue\n');
      return 1;
    }
    process.stderr.write(`chatvec: error: ${e instanceof ChatvecError ? e.message : (e as Error).message ?? String(e)}\n`);
    if (!(e instanceof ChatvecError) && process.env.CHATVEC_DEBUG) process.stderr.write(`${(e as Error).stack}\n`);
    return 1;
  }
}

async function inspect(args: string[], values: Values): Promise<number> {
  if (args.length !== 1) throw new UsageError('inspect takes one folder');
  const ck = await loadCheckpoint(new NodeFileTree(args[0]));
  try {
    const s = summarizeCheckpoint(ck);
    const tensors = [...ck.tensors.values()].map((t) => ({ name: t.name, dtype: t.dtype, shape: t.shape, file: t.file }));
    if (values.json) {
      process.stdout.write(JSON.stringify({ ...s, shards: ck.shards.length, tensors }, null, 2) + '\n');
      return 0;
    }
    const o = process.stdout;
    o.write(`${s.label}\n`);
    o.write(`  architecture  ${s.architecture ?? '?'} (${s.modelType ?? '?'}), ${s.layers} layers, hidden ${s.hiddenSize}, heads ${s.heads}/${s.kvHeads}, intermediate ${s.intermediateSize}\n`);
    o.write(`  vocabulary    ${s.vocabSize}${s.tiedEmbeddings ? ' (tied embeddings)' : ''}\n`);
    o.write(`  parameters    ${s.parameters.toLocaleString('en-US')} in ${s.tensorCount} tensors, ${formatBytes(s.weightFileBytes)} in ${ck.shards.length} file(s)\n`);
    o.write(`  dtypes        ${s.dtypes.map((d) => `${d.dtype}×${d.count}`).join(', ')}\n`);
    o.write(`  chat template ${s.chatTemplate ? 'yes' : 'no'}\n`);
    for (const t of tensors) o.write(`  ${t.name.padEnd(48)} ${t.dtype.padEnd(5)} [${t.shape.join(', ')}]\n`);
    return 0;
  } finally {
    await ck.close();
  }
}

/**
 * A model reference as files: a local folder when one exists at that path, else a Hugging Face Hub
 * repository (`owner/name[@revision]` or `hf://…`) at the endpoint in HF_ENDPOINT, with HF_TOKEN as
 * the access token for gated or private repositories.
 */
function modelTree(dir: string, ref: string): FileTree {
  const local = resolvePath(dir, ref);
  if (existsSync(local) || !/^(hf:\/\/)?[\w.-]+\/[\w.-]+(@\S+)?$/.test(ref)) return new NodeFileTree(local);
  const { repo, revision } = parseHubRef(ref);
  return new HubTree({ repo, revision, hubUrl: process.env.HF_ENDPOINT || undefined, accessToken: process.env.HF_TOKEN || undefined });
}

/** The recipe from a file or from --base/--chat/--cp flags, with flag overrides applied. */
async function recipeFrom(args: string[], values: Values, needAlpha: boolean): Promise<{ recipe: Recipe; dir: string }> {
  let recipe: Recipe;
  let dir = process.cwd();
  if (args.length === 1) {
    if (values.base || values.chat || values.cp) throw new UsageError('give either a recipe file or --base/--chat/--cp, not both');
    const file = resolvePath(args[0]);
    recipe = parseRecipeFile(await readFile(file, 'utf8').catch(() => { throw new ChatvecError('cannot read the recipe', { code: 'no-recipe', file: args[0] }); }), args[0]);
    dir = resolvePath(file, '..');
  } else if (args.length === 0) {
    for (const k of ['base', 'chat', 'cp'] as const) if (typeof values[k] !== 'string') throw new UsageError(`--${k} is required`);
    if (needAlpha && values.alpha === undefined) throw new UsageError('--alpha is required (e.g. --alpha 1.0)');
    recipe = defaultRecipe(values.cp as string, values.base as string, values.chat as string, values.alpha === undefined ? 1 : parseAlpha(values.alpha as string));
  } else throw new UsageError(`unexpected arguments: ${args.slice(1).join(' ')}`);
  // Local folders are recorded absolute, so the recipe saved with the output runs from anywhere.
  const absolute = (ref: string) => (existsSync(resolvePath(dir, ref)) ? resolvePath(dir, ref) : ref);
  recipe.cp = absolute(recipe.cp);
  recipe.vectors = recipe.vectors.map((v) => ({ ...v, base: absolute(v.base), chat: absolute(v.chat) }));
  if (values.embeddings !== undefined) {
    if (values.embeddings !== 'overlap' && values.embeddings !== 'skip') throw new UsageError(`--embeddings must be overlap or skip, not "${values.embeddings}"`);
    recipe.embeddings = values.embeddings;
  }
  if (values.skip) recipe.skip = [...recipe.skip, ...(values.skip as string[])];
  if (values.dtype !== undefined) {
    const d = values.dtype as string;
    if (!['auto', 'bf16', 'f16', 'f32'].includes(d)) throw new UsageError(`--dtype must be auto, bf16, f16 or f32, not "${d}"`);
    recipe.dtype = d as Recipe['dtype'];
  }
  if (values['shard-size'] !== undefined) recipe.shardSize = parseSize(values['shard-size'] as string, '--shard-size');
  if (values['copy-token-rows'] !== undefined) recipe.copyTokenRows = (values['copy-token-rows'] as string).split(',').map((s) => s.trim()).filter(Boolean);
  return { recipe, dir };
}

function parseAlpha(s: string): number {
  const a = Number(s);
  if (s.trim() === '' || !Number.isFinite(a)) throw new UsageError(`--alpha must be a number, not "${s}"`);
  return a;
}

async function planCmd(args: string[], values: Values): Promise<number> {
  const { recipe, dir } = await recipeFrom(args, values, false);
  const inputs = await openInputs(recipe, (ref) => modelTree(dir, ref));
  try {
    const plan = planMerge(inputs, recipe);
    const side = buildSideFiles(inputs, recipe, plan, inputs.described);
    if (values.json) {
      process.stdout.write(JSON.stringify(planJson(plan, side.notes), null, 2) + '\n');
    } else {
      printPlan(plan, side.notes);
    }
    return hasErrors(plan) ? 1 : 0;
  } finally {
    await inputs.close();
  }
}

export function planJson(plan: MergePlan, notes: string[]) {
  return {
    ok: !hasErrors(plan),
    counts: plan.counts,
    totalOutputBytes: plan.totalOutputBytes,
    numLayers: plan.numLayers,
    issues: plan.issues,
    notes,
    tensors: plan.entries.map((e) => ({ name: e.name, action: e.action, reason: e.reason, shape: e.shape, dtype: e.outDtype, alphas: e.terms.map((t) => t.alpha), ...(e.mergeRows !== undefined ? { mergeRows: e.mergeRows } : {}) })),
  };
}

function printPlan(plan: MergePlan, notes: string[]): void {
  const o = process.stdout;
  const c = plan.counts;
  o.write(`plan: ${c.merged} merged, ${c.mergedRows} merged on shared rows, ${c.copied} copied from cp; ${c.parameters.toLocaleString('en-US')} parameters, ${formatBytes(plan.totalOutputBytes)} of weights\n`);
  for (const i of plan.issues) {
    o.write(`${i.severity}: ${i.message}\n`);
    for (const t of i.tensors.slice(0, 20)) o.write(`    ${t}\n`);
    if (i.tensors.length > 20) o.write(`    … and ${i.tensors.length - 20} more\n`);
    if (i.hint) o.write(`    → ${i.hint}\n`);
  }
  for (const n of notes) o.write(`note: ${n}\n`);
  o.write(hasErrors(plan) ? 'the merge cannot run until the errors above are fixed\n' : 'ready to merge\n');
}

async function mergeCmd(args: string[], values: Values): Promise<number> {
  if (typeof values.out !== 'string') throw new UsageError('--out is required');
  const { recipe, dir } = await recipeFrom(args, values, true);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bar = progressReporter(process.stderr);
  const out = new NodeOutputFolder(resolvePath(values.out));
  try {
    const result = await mergeRecipe({
      recipe,
      resolve: (ref) => modelTree(dir, ref),
      out,
      resume: !!values.resume,
      force: !!values.force,
      signal: abort.signal,
      onPlan: (plan, notes) => {
        for (const i of plan.issues.filter((x) => x.severity !== 'info')) process.stderr.write(`${i.severity}: ${i.message}${i.hint ? ` (${i.hint})` : ''}\n`);
        for (const n of notes) process.stderr.write(`note: ${n}\n`);
      },
      onProgress: (p) => bar.update(p),
      chunkElements: envNumber('CHATVEC_CHUNK_ELEMENTS'),
      checkpointBytes: envNumber('CHATVEC_CHECKPOINT_BYTES'),
      ioOnly: process.env.CHATVEC_IO_ONLY === '1',
      backend: parseBackend(values.backend),
    });
    const secs = result.elapsedMs / 1000;
    process.stderr.write(`merged ${formatBytes(result.bytesTotal)} in ${secs.toFixed(1)} s (${((result.bytesTotal - result.resumedBytes) / 1e6 / Math.max(secs, 1e-3)).toFixed(1)} MB/s)${result.resumedBytes ? `, resumed after ${formatBytes(result.resumedBytes)}` : ''} into ${out.label}\n`);
    process.stderr.write(`${backendLine(result.backend)}\n`);
    for (const f of result.files) process.stdout.write(`${f.name}\t${f.size}\n`);
    return 0;
  } finally {
    bar.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
  }
}

function parseBackend(v: Values[string]): BackendChoice {
  if (v === undefined) return 'cpu';
  if (v !== 'auto' && v !== 'cpu' && v !== 'gpu') throw new UsageError(`--backend must be auto, cpu or gpu, not "${v}"`);
  return v;
}

/** e.g. `backend cpu (simd) 850.0 MB/s; auto measured cpu 850.0 MB/s, gpu 40.1 MB/s (…)`. */
export function backendLine(b: BackendReport): string {
  const mbs = (x: number) => `${(x / 1e6).toFixed(1)} MB/s`;
  const c = b.calibration;
  return `backend ${b.name} (${b.detail}) ${mbs(b.bytesPerSecond)}${c ? `; auto measured cpu ${mbs(c.cpuBytesPerSecond)}, gpu ${mbs(c.gpuBytesPerSecond)} (${c.gpu})` : ''}${b.note ? `; ${b.note}` : ''}`;
}

async function statsCmd(args: string[], values: Values): Promise<number> {
  if (values.json && values.csv) throw new UsageError('give --json or --csv, not both');
  const backend = values.backend ?? 'cpu';
  if (backend !== 'cpu' && backend !== 'gpu') throw new UsageError(`stats: --backend must be cpu or gpu, not "${String(backend)}"`);
  const { recipe, dir } = await recipeFrom(args, values, false);
  if (recipe.vectors.length > 1) process.stderr.write(`note: the recipe has ${recipe.vectors.length} chat vectors; stats are for the first\n`);
  const abort = new AbortController();
  const onSignal = () => abort.abort();
  process.once('SIGINT', onSignal);
  process.once('SIGTERM', onSignal);
  const bar = process.stderr.isTTY ? progressReporter(process.stderr) : null;
  const inputs = await openInputs(recipe, (ref) => modelTree(dir, ref));
  const accumulator = backend === 'gpu' ? await (await import('../gpu/stats-gpu-accumulator.ts')).openGpuStatsAccumulator() : undefined;
  try {
    const stats = await computeChatVectorStats({ inputs, recipe, signal: abort.signal, onProgress: bar ? (p) => bar.update(p) : undefined, chunkElements: envNumber('CHATVEC_CHUNK_ELEMENTS'), accumulator });
    bar?.done();
    if (accumulator) process.stderr.write(`stats backend gpu (${accumulator.detail}): ${accumulator.gpuElements} elements on the GPU, ${accumulator.cpuElements} on the CPU${accumulator.lost ? ` (${accumulator.lost})` : ''}\n`);
    process.stdout.write(values.json ? JSON.stringify(stats, null, 2) + '\n' : values.csv ? formatStatsCsv(stats) : formatStatsTable(stats));
    return 0;
  } catch (e) {
    if (!(e instanceof CancelledError)) throw e;
    process.stderr.write('chatvec: cancelled\n');
    return 1;
  } finally {
    bar?.done();
    process.off('SIGINT', onSignal);
    process.off('SIGTERM', onSignal);
    accumulator?.dispose();
    await inputs.close();
  }
}

/** `chatvec prompt`: what the model will see for a conversation, byte for byte (stdout gets no newline of ours). */
async function promptCmd(args: string[], values: Values): Promise<number> {
  if (args.length) throw new UsageError(`prompt takes no positional arguments, got "${args.join(' ')}"`);
  if (typeof values.model !== 'string') throw new UsageError('--model is required (the model folder)');
  if (typeof values.messages !== 'string') throw new UsageError('--messages is required (a JSON file: [{"role": "user", "content": "…"}, …])');
  const { parseChatMessages, renderChatPrompt } = await import('../model/chat-template.ts');
  const messagesFile = values.messages;
  const messagesText = await readFile(resolvePath(messagesFile), 'utf8').catch(() => { throw new ChatvecError('cannot read the messages file', { code: 'no-messages', file: messagesFile }); });
  let messagesJson: unknown;
  try {
    messagesJson = JSON.parse(messagesText);
  } catch (e) {
    throw new ChatvecError('the messages file is not JSON', { code: 'bad-messages', file: messagesFile, found: (e as Error).message });
  }
  const messages = parseChatMessages(messagesJson, messagesFile);
  const tree = new NodeFileTree(resolvePath(values.model));
  const files = await tree.list();
  const folder = values.model;
  const tokenizerConfig = files.includes('tokenizer_config.json') ? parseJsonObject(new TextEncoder().encode(await readText(tree, 'tokenizer_config.json')), `${folder}/tokenizer_config.json`) : {};
  // transformers reads chat_template.jinja in preference to tokenizer_config.json's chat_template.
  const chatTemplate = files.includes('chat_template.jinja') ? await readText(tree, 'chat_template.jinja') : undefined;
  process.stdout.write(renderChatPrompt(tokenizerConfig, messages, { addGenerationPrompt: !values['no-generation-prompt'], chatTemplate, folder }));
  return 0;
}

/** Tuning knobs for tests and benchmarks (chunk size, resume-point spacing; CHATVEC_IO_ONLY=1 is the benchmark's copy baseline). */
function envNumber(name: string): number | undefined {
  const v = process.env[name];
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isSafeInteger(n) || n <= 0) throw new UsageError(`${name} must be a positive integer, not "${v}"`);
  return n;
}

const isMain = process.argv[1] && import.meta.url.endsWith(process.argv[1].split('/').pop()!);
if (isMain) {
  // `chatvec inspect … | head` closes the pipe early: that is not an error.
  process.stdout.on('error', (e: NodeJS.ErrnoException) => process.exit(e.code === 'EPIPE' ? 0 : 1));
  main(process.argv.slice(2)).then((code) => process.exit(code));
}
