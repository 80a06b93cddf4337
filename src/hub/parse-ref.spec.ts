import { describe, expect, it } from 'vitest';
import { ChatvecError } from '../core/errors.ts';
import { parseHubRef } from './parse-ref.ts';

describe('parseHubRef', () => {
  it.each([
    ['Qwen/Qwen2.5-0.5B-Instruct', { repo: 'Qwen/Qwen2.5-0.5B-Instruct' }],
    ['meta-llama/Llama-3.1-8B@main', { repo: 'meta-llama/Llama-3.1-8B', revision: 'main' }],
    ['hf://org/model_x@v1.0', { repo: 'org/model_x', revision: 'v1.0' }],
    ['hf://org/model', { repo: 'org/model' }],
    ['  org/model@refs/pr/12 ', { repo: 'org/model', revision: 'refs/pr/12' }],
    ['org/model@0123456789abcdef0123456789abcdef01234567', { repo: 'org/model', revision: '0123456789abcdef0123456789abcdef01234567' }],
  ])('%s', (ref, want) => {
    expect(parseHubRef(ref)).toEqual(want);
  });

  it.each([
    ['model', 'the owner is missing'],
    ['a/b/c', 'too many "/" in the repository id'],
    ['datasets/org/data', 'only model repositories can be merged, not datasets'],
    ['https://huggingface.co/org/model', 'it is a web address'],
    ['org/model@', 'the revision after "@" is empty'],
    ['org/mo del', '"mo del" is not a valid owner or repository name'],
    ['-org/model', '"-org" is not a valid owner or repository name'],
    ['org/model@a..b', '"a..b" is not a valid revision'],
    ['org/model@x y', '"x y" is not a valid revision'],
  ])('refuses %s', (ref, why) => {
    let error: unknown;
    try {
      parseHubRef(ref);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(ChatvecError);
    expect((error as ChatvecError).code).toBe('bad-hub-ref');
    expect((error as ChatvecError).message).toContain(`"${ref}" is not a Hub model reference: ${why}; expected owner/name, owner/name@revision or hf://owner/name@revision. `);
  });
});
