import type { SweepPrompt } from '../types.ts';

/** Licence line of every bundled set. */
export const BUILTIN_SOURCE = 'written for Chat Vector Studio, CC0 1.0 (public domain dedication)';

/** Prompts with ids `<prefix>-01`, `<prefix>-02`, … in order. */
export function numbered(prefix: string, texts: string[]): SweepPrompt[] {
  return texts.map((text, i) => ({ id: `${prefix}-${String(i + 1).padStart(2, '0')}`, text }));
}
