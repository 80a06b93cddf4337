import { ChatvecError } from './errors.ts';
import type { Checkpoint } from './checkpoint.ts';
import { sideJson } from './checkpoint.ts';

/** Token string → id from a checkpoint's tokenizer.json (added tokens first, then the model vocabulary). */
export function tokenId(ck: Checkpoint, token: string): number {
  const file = `${ck.label}/tokenizer.json`;
  const tok = sideJson(ck, 'tokenizer.json');
  if (!tok) throw new ChatvecError('no tokenizer.json to look token ids up in', { code: 'no-tokenizer', file, tensor: token, hint: 'Copying special-token rows needs tokenizer.json in both the chat and the cp model' });
  const added = Array.isArray(tok.added_tokens) ? (tok.added_tokens as { id?: unknown; content?: unknown }[]) : [];
  for (const t of added) if (t && t.content === token && Number.isInteger(t.id)) return t.id as number;
  const model = (tok.model ?? {}) as { vocab?: unknown };
  const vocab = model.vocab;
  if (vocab && typeof vocab === 'object' && !Array.isArray(vocab)) {
    const id = (vocab as Record<string, unknown>)[token];
    if (Number.isInteger(id)) return id as number;
  } else if (Array.isArray(vocab)) {
    // Unigram: [[piece, score], …], id = position
    const i = vocab.findIndex((e) => Array.isArray(e) && e[0] === token);
    if (i >= 0) return i;
  }
  throw new ChatvecError('token not found in the tokenizer', { code: 'token-not-found', file, tensor: token, expected: `"${token}" in added_tokens or model.vocab`, found: 'no such token', hint: 'Check the spelling of the token, e.g. <|eot_id|>' });
}
