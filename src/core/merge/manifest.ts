import type { MergePlan } from '../plan.ts';
import { parseJsonObject } from '../checkpoint.ts';
import { readWholeFile, writeFileAtomic, type OutputFolder } from './output-folder.ts';

/** Left in the output folder while a merge runs; it says how far the merge got, for --resume. */
export const MANIFEST_FILE = '.chatvec-resume.json';

export interface ResumeManifest {
  chatvec_merge: 1;
  /** SHA-256 of the plan and the inputs' layout: a resume must be the same merge. */
  fingerprint: string;
  shards: { file: string; dataBytes: number; done: boolean }[];
  /** Bytes of `shards[shard]`'s partial file known to be written and synced. */
  current: { shard: number; bytes: number };
}

export async function loadManifest(out: OutputFolder): Promise<ResumeManifest | null> {
  const bytes = await readWholeFile(out, MANIFEST_FILE);
  if (!bytes) return null;
  const m = parseJsonObject(bytes, `${out.label}/${MANIFEST_FILE}`) as unknown as ResumeManifest;
  if (m.chatvec_merge !== 1 || !Array.isArray(m.shards) || typeof m.current?.bytes !== 'number') return null;
  return m;
}

export function saveManifest(out: OutputFolder, m: ResumeManifest): Promise<void> {
  return writeFileAtomic(out, MANIFEST_FILE, JSON.stringify(m));
}

export async function planFingerprint(plan: MergePlan, shardSize: number): Promise<string> {
  const ref = (t: { source: { name: string; size: number }; offset: number; byteLength: number; dtype: string }) => [t.source.name, t.source.size, t.offset, t.byteLength, t.dtype];
  const desc = JSON.stringify({
    v: 1,
    shardSize,
    entries: plan.entries.map((e) => [e.name, e.action, e.outDtype, e.shape, e.mergeRows ?? null, ref(e.cp), e.terms.map((t) => [t.alpha, ref(t.base), ref(t.chat)]), e.rowPatches.map((p) => [p.row, p.sourceRow, ref(p.source)])]),
  });
  const digest = await crypto.subtle.digest('SHA-256', new TextEncoder().encode(desc));
  return [...new Uint8Array(digest)].map((b) => b.toString(16).padStart(2, '0')).join('');
}
