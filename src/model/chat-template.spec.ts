import { describe, expect, it } from 'vitest';
import { CHAT_TEMPLATE } from '../../scripts/fixtures.ts';
import { ChatvecError } from '../core/errors.ts';
import { chatTemplateOf, parseChatMessages, renderChatPrompt, strftime, type ChatMessage } from './chat-template.ts';

const USER_ONLY: ChatMessage[] = [{ role: 'user', content: 'Hi' }];
const render = (template: string, cfg: Record<string, unknown> = {}, opts: Parameters<typeof renderChatPrompt>[2] = {}) =>
  renderChatPrompt(cfg, USER_ONLY, { ...opts, chatTemplate: template });

describe('renderChatPrompt', () => {
  it('renders the fixture template; the generation prompt is on by default', () => {
    const cfg = { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>', chat_template: CHAT_TEMPLATE };
    const messages: ChatMessage[] = [{ role: 'system', content: 'Be brief. ' }, { role: 'user', content: 'Hi' }];
    const body = '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nBe brief.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|>';
    expect(renderChatPrompt(cfg, messages)).toBe(body + '<|start_header_id|>assistant<|end_header_id|>\n\n');
    expect(renderChatPrompt(cfg, messages, { addGenerationPrompt: false })).toBe(body);
  });

  it('passes special tokens as strings, AddedToken objects included; absent ones are undefined', () => {
    const cfg = { bos_token: { content: '<s>', lstrip: false }, eos_token: '</s>', pad_token: null, additional_special_tokens: ['<a>', { content: '<b>' }] };
    expect(render('{{ bos_token }}|{{ eos_token }}|{{ pad_token is defined }}|{{ unk_token is defined }}|{{ additional_special_tokens | join(",") }}', cfg)).toBe('<s>|</s>|false|false|<a>,<b>');
  });

  it('tools and documents are none, as transformers passes them', () => {
    expect(render('{{ tools is defined }} {{ tools is none }} {{ documents is none }} {{ messages | length }}')).toBe('true true true 1');
  });

  it('the template argument wins over tokenizer_config; a list-form chat_template uses "default"', () => {
    const cfg = { chat_template: [{ name: 'tool_use', template: 'tools' }, { name: 'default', template: 'default {{ messages[0].content }}' }] };
    expect(renderChatPrompt(cfg, USER_ONLY)).toBe('default Hi');
    expect(renderChatPrompt(cfg, USER_ONLY, { chatTemplate: 'jinja file' })).toBe('jinja file');
    expect(chatTemplateOf({})).toBeNull();
    expect(() => chatTemplateOf({ chat_template: [{ name: 'tool_use', template: 'x' }] })).toThrow('tokenizer_config.json, tensor "chat_template": chat_template is not a template; expected a string or a list of {"name", "template"} with a "default" entry');
  });

  it('a model without a chat template is a clear error', () => {
    const e = (() => { try { renderChatPrompt({ eos_token: '</s>' }, USER_ONLY); } catch (x) { return x; } })() as ChatvecError;
    expect(e).toBeInstanceOf(ChatvecError);
    expect(e.code).toBe('no-chat-template');
    expect(e.message).toBe('tokenizer_config.json, tensor "chat_template": the model has no chat template. Use a chat (instruct) model, or add chat_template.jinja to its folder');
  });

  it('raise_exception becomes an error that quotes the template', () => {
    const tpl = "{% if messages[0]['role'] != 'system' %}{{ raise_exception('System message required!') }}{% endif %}ok";
    expect(() => render(tpl)).toThrow('the chat template refused the conversation: "System message required!". Check the order of roles');
  });

  it('broken templates are errors, not stack traces', () => {
    expect(() => render('{% if %}')).toThrow('chat_template.jinja: the chat template cannot be parsed, found Unexpected token: CloseStatement');
    expect(() => renderChatPrompt({ chat_template: '{% for %}' }, USER_ONLY)).toThrow('tokenizer_config.json: the chat template cannot be parsed, found Unexpected token');
    expect(() => render('{{ messages[0].content.nope() }}')).toThrow('the chat template failed to render, found Cannot call something that is not a function: got UndefinedValue');
  });

  it('strftime_now formats opts.now like Python in the C locale, whatever the runtime locale', () => {
    const now = new Date(2024, 6, 26, 9, 5, 3); // local time, as Python's datetime.now()
    const tpl = '{%- if not date_string is defined %}{%- if strftime_now is defined %}{%- set date_string = strftime_now("%d %b %Y") %}{%- else %}{%- set date_string = "26 Jul 2024" %}{%- endif %}{%- endif %}Today Date: {{ date_string }}';
    expect(render(tpl, {}, { now: new Date(2025, 0, 5) })).toBe('Today Date: 05 Jan 2025');
    expect(render('{{ strftime_now("%Y-%m-%d %H:%M:%S %A %a %B %j %y %I%p %% %Q") }}', {}, { now })).toBe('2024-07-26 09:05:03 Friday Fri July 208 24 09AM % %Q');
    expect(strftime(new Date(2023, 11, 31, 23, 0), '%j %e %I %p')).toBe('365 31 11 PM');
    expect(strftime(new Date(2024, 0, 1, 0, 0), '%j|%e|%I %p')).toBe('001| 1|12 AM');
  });

  it('range, namespace and loop controls work as in transformers', () => {
    expect(render('{% for i in range(3) %}{{ i }}{% endfor %}|{{ range(1, 7, 2) | join(",") }}|{% set ns = namespace(n=0) %}{% for m in messages %}{% set ns.n = ns.n + 1 %}{% endfor %}{{ ns.n }}')).toBe('012|1,3,5|1');
  });
});

describe('parseChatMessages', () => {
  it('takes a list or {messages: list}, keeping only role and content', () => {
    const list = [{ role: 'system', content: 's' }, { role: 'user', content: 'u', name: 'x' }];
    expect(parseChatMessages(list, 'm.json')).toEqual([{ role: 'system', content: 's' }, { role: 'user', content: 'u' }]);
    expect(parseChatMessages({ messages: list }, 'm.json')).toEqual(parseChatMessages(list, 'm.json'));
  });

  it('names the file and the message that is wrong', () => {
    expect(() => parseChatMessages({ prompt: 'hi' }, 'm.json')).toThrow('m.json, tensor "messages": not a conversation, found an object {"prompt":"hi"}');
    expect(() => parseChatMessages(['hi'], 'm.json')).toThrow('m.json, tensor "messages[0]": message 0 is not an object, found a string "hi"');
    expect(() => parseChatMessages([{ role: 'user' }], 'm.json')).toThrow('m.json, tensor "messages[0].content": message 0: content must be text, found nothing');
    expect(() => parseChatMessages([{ role: 'tool', content: '' }], 'm.json')).toThrow('message 0: role must be system, user or assistant, found a string "tool". Write the conversation as [{"role": "system", "content": "…"}, {"role": "user", "content": "…"}]');
  });
});
