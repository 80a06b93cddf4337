import { ChatvecError } from '../core/errors.ts';

export interface HubRef {
  /** `owner/name` */
  repo: string;
  /** Branch, tag or commit; absent when the reference names none (the caller's default, usually `main`). */
  revision?: string;
}

const NAME = /^[A-Za-z0-9](?:[\w.-]{0,94}[A-Za-z0-9_])?$/;
const REVISION = /^[\w.\-/]+$/;

/**
 * A Hub model reference as people write it: `owner/name`, `owner/name@revision` or `hf://owner/name@revision`.
 * The revision may hold slashes (`refs/pr/1`). Datasets, spaces and URLs are refused with a message saying why.
 */
export function parseHubRef(ref: string): HubRef {
  const text = ref.trim();
  const bad = (why: string, hint: string): never => {
    throw new ChatvecError(`"${ref}" is not a Hub model reference: ${why}`, { code: 'bad-hub-ref', expected: 'owner/name, owner/name@revision or hf://owner/name@revision', hint });
  };
  if (/^https?:\/\//i.test(text)) bad('it is a web address', 'Give the repository id, e.g. Qwen/Qwen2.5-0.5B-Instruct, and set a mirror as the Hub endpoint instead');
  const body = text.replace(/^hf:\/\//i, '');
  const at = body.indexOf('@');
  const repo = at < 0 ? body : body.slice(0, at);
  const revision = at < 0 ? undefined : body.slice(at + 1);
  const parts = repo.split('/');
  if (/^(datasets|spaces)\//.test(repo)) bad(`only model repositories can be merged, not ${parts[0]}`, 'Give a model repository');
  if (parts.length !== 2) bad(parts.length < 2 ? 'the owner is missing' : 'too many "/" in the repository id', 'Write it as owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct');
  for (const p of parts) {
    if (!NAME.test(p) || p.includes('--') || p.includes('..')) bad(`"${p}" is not a valid owner or repository name`, 'Names use letters, digits, "-", "_" and ".", and start and end with a letter or digit');
  }
  if (revision !== undefined) {
    if (revision === '') bad('the revision after "@" is empty', 'Write a branch, tag or commit after "@", or leave "@" out for main');
    if (!REVISION.test(revision) || revision.includes('..') || revision.startsWith('/') || revision.endsWith('/')) bad(`"${revision}" is not a valid revision`, 'A revision is a branch, tag or commit id, e.g. main, v1.0 or refs/pr/1');
  }
  return revision === undefined ? { repo } : { repo, revision };
}
