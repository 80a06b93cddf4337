/**
 * Greedy answers of a model folder through the studio's preview runtime (ONNX graph, onnxruntime-web wasm),
 * for a list of chat prompts: training/evaluate.py checks its own PyTorch decoding against these ids.
 *
 *   npx tsx scripts/demo-eval.ts --model DIR --prompts PROMPTS.json [--max-new-tokens 64] [--stop ID,ID] [--template-from DIR]
 *
 * PROMPTS.json is a JSON list of user messages. --template-from takes the chat template from another
 * model folder's tokenizer_config.json (cp alone has none). Prints one JSON object to stdout:
 * {"stop": [ids], "results": [{"prompt", "prompt_ids", "ids"}]}; `ids` ends with the stop id when one was produced.
 */
import { readFile } from 'node:fs/promises';
import { resolve } from 'node:path';
import { parseArgs } from 'node:util';
import { NodeFileTree } from '../src/core/sources/node-fs.ts';
import { renderChatPrompt } from '../src/model/chat-template.ts';
import { generateIds } from '../src/model/generate.ts';
import { openPreviewFolder } from '../src/model/session.ts';

const { values } = parseArgs({
  options: { model: { type: 'string' }, prompts: { type: 'string' }, 'max-new-tokens': { type: 'string', default: '64' }, stop: { type: 'string' }, 'template-from': { type: 'string' } },
});
if (!values.model || !values.prompts) {
  process.stderr.write('usage: npx tsx scripts/demo-eval.ts --model DIR --prompts PROMPTS.json [--max-new-tokens N] [--stop ID,ID] [--template-from DIR]\n');
  process.exit(2);
}
const maxNewTokens = Number(values['max-new-tokens']);
if (!Number.isSafeInteger(maxNewTokens) || maxNewTokens < 1) throw new Error(`--max-new-tokens must be a positive integer, not "${values['max-new-tokens']}"`);
const prompts: unknown = JSON.parse(await readFile(values.prompts, 'utf8'));
if (!Array.isArray(prompts) || !prompts.every((p) => typeof p === 'string')) throw new Error(`${values.prompts}: expected a JSON list of strings`);

const templateFrom = values['template-from'] ? (JSON.parse(await readFile(resolve(values['template-from'], 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>) : null;
const folder = await openPreviewFolder(new NodeFileTree(resolve(values.model)), { executionProviders: ['wasm'], numThreads: 1 });
try {
  const stop = values.stop ? values.stop.split(',').map(Number) : folder.tokenizer.eosTokenIds;
  const results = [];
  for (const prompt of prompts as string[]) {
    const text = templateFrom
      ? renderChatPrompt({ ...folder.tokenizerConfig, chat_template: templateFrom.chat_template }, [{ role: 'user', content: prompt }], { addGenerationPrompt: true })
      : renderChatPrompt(folder.tokenizerConfig, [{ role: 'user', content: prompt }], { addGenerationPrompt: true, ...(folder.chatTemplate ? { chatTemplate: folder.chatTemplate } : {}) });
    const promptIds = folder.tokenizer.encode(text, { addSpecialTokens: false });
    const { ids } = await generateIds(folder.model, promptIds, { maxNewTokens, eosTokenIds: stop, sampling: { greedy: true } });
    results.push({ prompt, prompt_ids: promptIds, ids });
  }
  process.stdout.write(JSON.stringify({ stop, results }) + '\n');
} finally {
  await folder.model.release();
}
