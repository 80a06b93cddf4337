import { Tokenizer } from '@huggingface/tokenizers';
import { ChatvecError } from '../core/errors.ts';
import { describeValue } from '../core/recipe-io.ts';

export type { ChatMessage } from './chat-template.ts';

export interface TextTokenizer {
  /** Token ids for `text`. `addSpecialTokens` (default false: a rendered chat prompt already has its BOS) runs the post-processor and honours `add_bos_token` / `add_eos_token`. */
  encode(text: string, opts?: { addSpecialTokens?: boolean }): number[];
  /** Text for `ids`; special tokens are kept unless `skipSpecialTokens`. */
  decode(ids: number[], opts?: { skipSpecialTokens?: boolean }): string;
  /**
   * Streaming-safe incremental decoding: the text that `allIds` adds after the first `prevTextLength`
   * UTF-16 units already shown. Text that the next token could still change (a trailing partial
   * multi-byte character, trailing whitespace that space clean-up may remove) is held back; once
   * generation ends, `decode(allIds).slice(shownLength)` flushes it.
   */
  decodeIncremental?(allIds: number[], prevTextLength: number, opts?: { skipSpecialTokens?: boolean }): string;
  bosTokenId: number | null;
  /** eos ids from generation_config.json (number or list), config.json and tokenizer_config.json eos_token, deduplicated, in that order. */
  eosTokenIds: number[];
  /** Highest token id + 1, added tokens included (the model's embedding may have more rows). */
  vocabSize: number;
  idToToken(id: number): string | null;
}

export interface LoadTokenizerParams {
  /** Parsed tokenizer.json. */
  tokenizerJson: unknown;
  /** Parsed tokenizer_config.json, or null when the model has none. */
  tokenizerConfig: unknown | null;
  /** Parsed generation_config.json. */
  generationConfig?: unknown | null;
  /** Parsed config.json. */
  config?: unknown | null;
}

/** Load a Hugging Face fast tokenizer (tokenizer.json) with its bos/eos facts; pure JS, runs in Node, pages and workers. */
export async function loadTokenizer(files: LoadTokenizerParams): Promise<TextTokenizer> {
  const tokenizerJson = files.tokenizerJson;
  if (!isRecord(tokenizerJson) || !isRecord(tokenizerJson.model)) {
    throw new ChatvecError('not a tokenizer', { code: 'bad-tokenizer', file: 'tokenizer.json', expected: 'a JSON object with a "model" field', found: describeValue(tokenizerJson), hint: 'Use the tokenizer.json of a fast (Rust) tokenizer; slow-only models (tokenizer.model alone) are not supported' });
  }
  const tokenizerConfig = optionalRecord(files.tokenizerConfig, 'tokenizer_config.json');
  const generationConfig = optionalRecord(files.generationConfig ?? null, 'generation_config.json');
  const config = optionalRecord(files.config ?? null, 'config.json');

  let hf: Tokenizer;
  try {
    hf = new Tokenizer(tokenizerJson, tokenizerConfig);
  } catch (e) {
    throw new ChatvecError('the tokenizer cannot be loaded', { code: 'bad-tokenizer', file: 'tokenizer.json', found: (e as Error).message ?? String(e), hint: 'The tokenizer may use a component that @huggingface/tokenizers does not support' });
  }

  let maxId = -1;
  for (const id of hf.get_vocab(true).values()) if (id > maxId) maxId = id;
  const vocabSize = maxId + 1;

  const tokenId = (field: string, source: Record<string, unknown>, file: string): number | null => {
    const token = tokenContent(source[field], field, file);
    if (token === null) return null;
    const id = hf.token_to_id(token);
    if (id === undefined) throw new ChatvecError(`${field} "${token}" is not in the vocabulary`, { code: 'bad-tokenizer', file, tensor: field, hint: 'tokenizer.json and tokenizer_config.json must come from the same model' });
    return id;
  };

  const bosTokenId = tokenId('bos_token', tokenizerConfig, 'tokenizer_config.json') ?? idList(config.bos_token_id, 'bos_token_id', 'config.json')[0] ?? null;
  const configEos = tokenId('eos_token', tokenizerConfig, 'tokenizer_config.json');
  const eosTokenIds = [...new Set([
    ...idList(generationConfig.eos_token_id, 'eos_token_id', 'generation_config.json'),
    ...idList(config.eos_token_id, 'eos_token_id', 'config.json'),
    ...(configEos === null ? [] : [configEos]),
  ])];
  const addBos = tokenizerConfig.add_bos_token;
  const addEos = tokenizerConfig.add_eos_token;

  // @huggingface/tokenizers throws on no ids; an answer that is only an eos decodes to no text.
  const decode = (ids: number[], opts?: { skipSpecialTokens?: boolean }): string =>
    ids.length === 0 ? '' : hf.decode(ids, { skip_special_tokens: opts?.skipSpecialTokens ?? false });

  return {
    encode(text, opts) {
      if (!opts?.addSpecialTokens) return hf.encode(text, { add_special_tokens: false }).ids;
      const ids = hf.encode(text, { add_special_tokens: true }).ids;
      // Like transformers' Llama/Gemma fast tokenizers, the config's add_bos_token / add_eos_token override the post-processor.
      if (bosTokenId !== null && typeof addBos === 'boolean') {
        const plain = hf.encode(text, { add_special_tokens: false }).ids;
        const added = ids[0] === bosTokenId && plain[0] !== bosTokenId;
        if (addBos && !added) ids.unshift(bosTokenId);
        if (!addBos && added) ids.shift();
      }
      if (addEos === true && configEos !== null && ids[ids.length - 1] !== configEos) ids.push(configEos);
      return ids;
    },
    decode,
    decodeIncremental(allIds, prevTextLength, opts) {
      const text = decode(allIds, opts);
      let end = text.length;
      // U+FFFD at the end is (usually) a multi-byte character whose remaining bytes are in the next token.
      while (end > prevTextLength && text.charCodeAt(end - 1) === 0xfffd) end--;
      // A trailing space may be removed by clean_up_tokenization_spaces once "." or "'s" follows.
      while (end > prevTextLength && text.charCodeAt(end - 1) === 0x20) end--;
      return end > prevTextLength ? text.slice(prevTextLength, end) : '';
    },
    bosTokenId,
    eosTokenIds,
    vocabSize,
    idToToken(id) {
      return hf.id_to_token(id) ?? null;
    },
  };
}

/** The token text of `bos_token` / `eos_token`: a string, an AddedToken object `{content}`, or absent (null). */
function tokenContent(value: unknown, field: string, file: string): string | null {
  if (value === undefined || value === null) return null;
  if (typeof value === 'string') return value;
  if (isRecord(value) && typeof value.content === 'string') return value.content;
  throw new ChatvecError(`${field} is not a token`, { code: 'bad-tokenizer', file, tensor: field, expected: 'a string or {"content": string}', found: describeValue(value) });
}

/** `eos_token_id` as written in generation_config.json / config.json: absent, one id or a list. */
function idList(value: unknown, field: string, file: string): number[] {
  if (value === undefined || value === null) return [];
  const list = Array.isArray(value) ? value : [value];
  for (const id of list) {
    if (typeof id !== 'number' || !Number.isSafeInteger(id) || id < 0) {
      throw new ChatvecError(`${field} is not a token id`, { code: 'bad-tokenizer', file, tensor: field, expected: 'a non-negative integer or a list of them', found: describeValue(value) });
    }
  }
  return list as number[];
}

function optionalRecord(value: unknown, file: string): Record<string, unknown> {
  if (value === null || value === undefined) return {};
  if (!isRecord(value)) throw new ChatvecError('not a JSON object', { code: 'bad-tokenizer', file, found: describeValue(value) });
  return value;
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
