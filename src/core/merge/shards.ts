import { buildSafetensorsHeader, type BuiltHeader } from '../safetensors/build-header.ts';
import type { PlanEntry } from '../plan.ts';

export interface ShardLayout {
  file: string;
  entries: PlanEntry[];
  header: BuiltHeader;
}

/** Pack tensors in plan order into shards of at most `shardSize` data bytes (a larger tensor gets a shard of its own). */
export function layoutShards(entries: PlanEntry[], shardSize: number): ShardLayout[] {
  const groups: PlanEntry[][] = [];
  let cur: PlanEntry[] = [];
  let bytes = 0;
  for (const e of entries) {
    if (cur.length > 0 && bytes + e.outBytes > shardSize) {
      groups.push(cur);
      cur = [];
      bytes = 0;
    }
    cur.push(e);
    bytes += e.outBytes;
  }
  if (cur.length || groups.length === 0) groups.push(cur);
  const n = groups.length;
  const pad = (i: number) => String(i).padStart(5, '0');
  return groups.map((g, i) => ({
    file: n === 1 ? 'model.safetensors' : `model-${pad(i + 1)}-of-${pad(n)}.safetensors`,
    entries: g,
    header: buildSafetensorsHeader(g.map((e) => ({ name: e.name, dtype: e.outDtype, shape: e.shape }))),
  }));
}

/** The Hugging Face index for a sharded output. */
export function shardIndexJson(shards: ShardLayout[]): string {
  const weightMap: Record<string, string> = {};
  let total = 0;
  for (const s of shards) for (const e of s.entries) {
    weightMap[e.name] = s.file;
    total += e.outBytes;
  }
  return JSON.stringify({ metadata: { total_size: total }, weight_map: weightMap }, null, 2) + '\n';
}
