import { Environment, Interpreter, Template } from '@huggingface/jinja';
import { ChatvecError } from '../core/errors.ts';
import { describeValue } from '../core/recipe-io.ts';

export interface ChatMessage {
  role: 'system' | 'user' | 'assistant';
  content: string;
}

export interface RenderChatPromptOptions {
  /** End with the assistant header so the model answers (default true). */
  addGenerationPrompt?: boolean;
  /** Template text that replaces tokenizer_config's, e.g. the model's chat_template.jinja. */
  chatTemplate?: string;
  /** Date that `strftime_now` formats (Llama 3.1+ put today's date in the system header); default: the real time. */
  now?: Date;
  /** The model folder as the user knows it, to name files in errors. */
  folder?: string;
}

/** tokenizer_config.json fields that transformers passes to the template as strings (its special_tokens_map). */
const SPECIAL_TOKEN_FIELDS = ['bos_token', 'eos_token', 'unk_token', 'sep_token', 'pad_token', 'cls_token', 'mask_token'] as const;

/**
 * The prompt text for `messages`, rendered like transformers' `apply_chat_template(tokenize=False)`:
 * the same variables (messages, add_generation_prompt, special tokens as strings, tools/documents none)
 * and globals (raise_exception, strftime_now). A system prompt is just a leading system message.
 */
export function renderChatPrompt(tokenizerConfig: Record<string, unknown>, messages: ChatMessage[], opts: RenderChatPromptOptions = {}): string {
  const inFolder = (name: string) => (opts.folder === undefined ? name : `${opts.folder}/${name}`);
  const file = inFolder(opts.chatTemplate === undefined ? 'tokenizer_config.json' : 'chat_template.jinja');
  const source = opts.chatTemplate ?? chatTemplateOf(tokenizerConfig);
  if (source === null) {
    throw new ChatvecError('the model has no chat template', { code: 'no-chat-template', file, tensor: 'chat_template', hint: 'Use a chat (instruct) model, or add chat_template.jinja to its folder' });
  }
  let template: Template;
  try {
    template = new Template(source);
  } catch (e) {
    throw new ChatvecError('the chat template cannot be parsed', { code: 'bad-chat-template', file, found: errorText(e) });
  }
  const now = opts.now;
  const variables: Record<string, unknown> = {
    ...specialTokens(tokenizerConfig),
    messages: messages.map((m) => ({ role: m.role, content: m.content })),
    add_generation_prompt: opts.addGenerationPrompt ?? true,
    tools: null,
    documents: null,
  };
  // Our own globals instead of Template.render's: strftime_now must take a fixed date and print English
  // month names whatever the browser's locale (as Python's C locale does), and raise_exception must be told apart.
  const globals: Record<string, unknown> = {
    true: true, false: false, none: null, True: true, False: false, None: null,
    range: pythonRange,
    raise_exception: (message: unknown) => {
      throw new TemplateRaise(String(message));
    },
    strftime_now: (format: unknown) => strftime(now ?? new Date(), String(format)),
  };
  try {
    const env = new Environment();
    for (const [name, value] of Object.entries({ ...globals, ...variables })) env.set(name, value);
    const result = new Interpreter(env).run(template.parsed).value;
    if (typeof result !== 'string') throw new Error(`the template produced ${typeof result}, not text`);
    return result;
  } catch (e) {
    if (e instanceof TemplateRaise) throw new ChatvecError(`the chat template refused the conversation: "${e.message}"`, { code: 'chat-template-raised', file, hint: 'Check the order of roles (many templates want user and assistant to alternate, with at most one leading system message)' });
    throw new ChatvecError('the chat template failed to render', { code: 'bad-chat-template', file, found: errorText(e) });
  }
}

const ROLES: readonly string[] = ['system', 'user', 'assistant'] satisfies ChatMessage['role'][];

/** A conversation from JSON: a list of `{role, content}`, or an object with such a list in `messages` (an OpenAI-style request). */
export function parseChatMessages(value: unknown, file: string): ChatMessage[] {
  const list = Array.isArray(value) ? value : typeof value === 'object' && value !== null && Array.isArray((value as { messages?: unknown }).messages) ? (value as { messages: unknown[] }).messages : null;
  const bad = (summary: string, field: string, found: string) =>
    new ChatvecError(summary, { code: 'bad-messages', file, tensor: field, found, hint: 'Write the conversation as [{"role": "system", "content": "…"}, {"role": "user", "content": "…"}]' });
  if (list === null) throw bad('not a conversation', 'messages', describeValue(value));
  return list.map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw bad(`message ${i} is not an object`, `messages[${i}]`, describeValue(m));
    const { role, content } = m as Record<string, unknown>;
    if (typeof role !== 'string' || !ROLES.includes(role)) throw bad(`message ${i}: role must be system, user or assistant`, `messages[${i}].role`, describeValue(role));
    if (typeof content !== 'string') throw bad(`message ${i}: content must be text`, `messages[${i}].content`, describeValue(content));
    return { role: role as ChatMessage['role'], content };
  });
}

/** The template text in tokenizer_config.json (`chat_template` is a string, or a list of `{name, template}` whose "default" is used), or null. */
export function chatTemplateOf(tokenizerConfig: Record<string, unknown>): string | null {
  const t = tokenizerConfig.chat_template;
  if (t === undefined || t === null) return null;
  if (typeof t === 'string') return t;
  if (Array.isArray(t)) {
    const named = t.find((x) => typeof x === 'object' && x !== null && (x as Record<string, unknown>).name === 'default');
    const template = (named as Record<string, unknown> | undefined)?.template;
    if (typeof template === 'string') return template;
  }
  throw new ChatvecError('chat_template is not a template', { code: 'bad-chat-template', file: 'tokenizer_config.json', tensor: 'chat_template', expected: 'a string or a list of {"name", "template"} with a "default" entry' });
}

function specialTokens(cfg: Record<string, unknown>): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const field of SPECIAL_TOKEN_FIELDS) {
    const token = tokenText(cfg[field]);
    if (token !== null) out[field] = token;
  }
  const extra = cfg.additional_special_tokens;
  if (Array.isArray(extra)) out.additional_special_tokens = extra.map(tokenText).filter((t): t is string => t !== null);
  return out;
}

function tokenText(v: unknown): string | null {
  if (typeof v === 'string') return v;
  if (typeof v === 'object' && v !== null && typeof (v as Record<string, unknown>).content === 'string') return (v as { content: string }).content;
  return null;
}

class TemplateRaise extends Error {}

/** Python's range(stop) / range(start, stop[, step]). */
function pythonRange(start: number, stop?: number, step = 1): number[] {
  if (stop === undefined) [start, stop] = [0, start];
  if (step === 0) throw new Error('range() step must not be zero');
  const out: number[] = [];
  for (let i = start; step > 0 ? i < stop : i > stop; i += step) out.push(i);
  return out;
}

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];

/** Python's `datetime.strftime` in the C locale (local time) for the directives chat templates use; others stay as written. */
export function strftime(date: Date, format: string): string {
  const pad = (n: number, width = 2) => String(n).padStart(width, '0');
  return format.replace(/%[YymdeBbAaHIMSpj%]/g, (d) => {
    switch (d) {
      case '%Y': return String(date.getFullYear());
      case '%y': return pad(date.getFullYear() % 100);
      case '%m': return pad(date.getMonth() + 1);
      case '%d': return pad(date.getDate());
      case '%e': return String(date.getDate()).padStart(2, ' ');
      case '%B': return MONTHS[date.getMonth()];
      case '%b': return MONTHS[date.getMonth()].slice(0, 3);
      case '%A': return DAYS[date.getDay()];
      case '%a': return DAYS[date.getDay()].slice(0, 3);
      case '%H': return pad(date.getHours());
      case '%I': return pad(((date.getHours() + 11) % 12) + 1);
      case '%M': return pad(date.getMinutes());
      case '%S': return pad(date.getSeconds());
      case '%p': return date.getHours() < 12 ? 'AM' : 'PM';
      case '%j': return pad((Date.UTC(date.getFullYear(), date.getMonth(), date.getDate()) - Date.UTC(date.getFullYear(), 0, 1)) / 86400000 + 1, 3);
      default: return '%';
    }
  });
}

function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
