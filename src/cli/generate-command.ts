/** `chatvec generate`: chat with a model folder through the in-tab preview runtime (onnxruntime-web, wasm). */
import { readFile } from 'node:fs/promises';
import { resolve as resolvePath } from 'node:path';
import { ChatvecError } from '../core/errors.ts';
import { NodeFileTree } from '../core/sources/node-fs.ts';
import type { ChatMessage } from '../model/chat-template.ts';
import { ChatSession } from '../model/generate.ts';
import { seededRng, type SamplingOptions } from '../model/sampling.ts';
import { chatPromptIds, openPreviewFolder } from '../model/session.ts';

type Values = Record<string, string | boolean | string[] | undefined>;

/** Thrown for bad flags; main.ts turns it into its usage message (exit 2). */
export type UsageErrorFactory = (message: string) => Error;

export async function generateCmd(args: string[], values: Values, usageError: UsageErrorFactory): Promise<number> {
  if (args.length > 0) throw usageError(`unexpected arguments: ${args.join(' ')}`);
  if (typeof values.model !== 'string') throw usageError('--model is required');
  if ((values.prompt === undefined) === (values.messages === undefined)) throw usageError('give one of --prompt or --messages');
  if (values.raw && values.messages !== undefined) throw usageError('--raw takes --prompt (messages always go through the chat template)');
  const maxNewTokens = values['max-new-tokens'] === undefined ? 128 : positiveInt(values['max-new-tokens'] as string, '--max-new-tokens', usageError);

  const folder = await openPreviewFolder(new NodeFileTree(resolvePath(values.model)), { executionProviders: ['wasm'] });
  try {
    const { tokenizer, generationConfig } = folder;
    let promptIds: number[];
    if (values.raw) {
      promptIds = tokenizer.encode(values.prompt as string, { addSpecialTokens: true });
    } else {
      const messages = values.messages !== undefined ? await readMessages(values.messages as string) : [{ role: 'user' as const, content: values.prompt as string }];
      promptIds = chatPromptIds(folder, messages);
    }
    const sampling = samplingFrom(values, generationConfig, usageError);
    const session = new ChatSession(folder.model, tokenizer);
    const ids: number[] = [];
    for await (const t of session.generate(promptIds, { maxNewTokens, sampling, eosTokenIds: tokenizer.eosTokenIds })) {
      ids.push(t.id);
      if (!values.json && t.text) process.stdout.write(t.text);
    }
    const stats = session.lastStats!;
    if (values.json) process.stdout.write(JSON.stringify({ prompt_ids: promptIds, ids, text: stats.text }) + '\n');
    else process.stdout.write('\n');
    process.stderr.write(`${stats.newTokens} tokens (${stats.stopReason}); prefill ${stats.promptTokens} tokens at ${stats.prefillTokensPerSecond.toFixed(1)} tok/s, decode ${stats.decodeTokensPerSecond.toFixed(1)} tok/s; session ${(folder.model.timings.packMs + folder.model.timings.sessionMs).toFixed(0)} ms\n`);
    return 0;
  } finally {
    await folder.model.release();
  }
}

function samplingFrom(values: Values, generationConfig: Record<string, unknown> | null, usageError: UsageErrorFactory): Omit<SamplingOptions, 'previousIds'> {
  const flags = values.temperature !== undefined || values['top-p'] !== undefined || values.seed !== undefined;
  if (values.greedy && flags) throw usageError('--greedy takes no --temperature, --top-p or --seed');
  if (values.greedy) return { greedy: true };
  if (flags) {
    const temperature = values.temperature === undefined ? 1 : positiveNumber(values.temperature as string, '--temperature', usageError);
    const topP = values['top-p'] === undefined ? 1 : positiveNumber(values['top-p'] as string, '--top-p', usageError);
    if (topP > 1) throw usageError(`--top-p must be in (0, 1], not "${values['top-p']}"`);
    const seed = values.seed === undefined ? undefined : Number(values.seed);
    if (seed !== undefined && !Number.isSafeInteger(seed)) throw usageError(`--seed must be an integer, not "${values.seed}"`);
    return { temperature, topP, ...(seed !== undefined ? { rng: seededRng(seed) } : {}) };
  }
  const g = generationConfig ?? {};
  if (g.do_sample !== true) return { greedy: true };
  const num = (k: string) => (typeof g[k] === 'number' ? (g[k] as number) : undefined);
  return { temperature: num('temperature') ?? 1, topP: num('top_p') ?? 1, topK: num('top_k') ?? 0, repetitionPenalty: num('repetition_penalty') ?? 1 };
}

async function readMessages(file: string): Promise<ChatMessage[]> {
  const text = await readFile(file, 'utf8').catch(() => {
    throw new ChatvecError('cannot read the messages file', { code: 'no-messages', file });
  });
  let v: unknown;
  try {
    v = JSON.parse(text);
  } catch (e) {
    throw new ChatvecError('not valid JSON', { code: 'bad-messages', file, expected: '[{"role": "user", "content": "…"}, …]', found: (e as Error).message });
  }
  const list = Array.isArray(v) ? v : typeof v === 'object' && v !== null && Array.isArray((v as { messages?: unknown }).messages) ? (v as { messages: unknown[] }).messages : null;
  const ok = (m: unknown): m is ChatMessage => typeof m === 'object' && m !== null && ['system', 'user', 'assistant'].includes((m as ChatMessage).role) && typeof (m as ChatMessage).content === 'string';
  if (!list || list.length === 0 || !list.every(ok)) {
    throw new ChatvecError('the messages file is not a list of chat messages', { code: 'bad-messages', file, expected: '[{"role": "system" | "user" | "assistant", "content": "…"}, …] (or {"messages": [...]})', found: text.slice(0, 80) });
  }
  return list;
}

function positiveInt(s: string, flag: string, usageError: UsageErrorFactory): number {
  const n = Number(s);
  if (!/^\d+$/.test(s) || !Number.isSafeInteger(n) || n < 1) throw usageError(`${flag} must be a positive integer, not "${s}"`);
  return n;
}

function positiveNumber(s: string, flag: string, usageError: UsageErrorFactory): number {
  const n = Number(s);
  if (s.trim() === '' || !Number.isFinite(n) || n <= 0) throw usageError(`${flag} must be a positive number, not "${s}"`);
  return n;
}
