import { csvText } from '../csv.ts';
import type { ChatVectorStats, StatsMetrics, TensorStats } from './stats-report.ts';

/** CSV columns, one row per compared tensor. */
export const STATS_CSV_COLUMNS = ['name', 'layer', 'module', 'action', 'elements', 'sharedRows', 'tauNorm', 'cpDeltaNorm', 'cpNorm', 'relMagnitude', 'cosine', 'signAgreement', 'sameSign', 'bothNonzero', 'nonFinite'] as const;

/** One header line, then one line per tensor; null is an empty field, numbers keep every digit. */
export function formatStatsCsv(stats: ChatVectorStats): string {
  return csvText(STATS_CSV_COLUMNS, stats.tensors.map((t) => STATS_CSV_COLUMNS.map((c) => t[c])));
}

const sci = (v: number) => v.toExponential(3);
const ratio = (v: number | null) => (v === null ? '—' : sci(v));
const cos = (v: number | null) => (v === null ? '—' : v.toFixed(4));
const pct = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(2)}%`);

function metricCells(m: StatsMetrics): string {
  return `${sci(m.tauNorm).padStart(10)}  ${ratio(m.relMagnitude).padStart(10)}  ${cos(m.cosine).padStart(8)}  ${pct(m.signAgreement).padStart(8)}`;
}
const HEAD = `${'‖τ‖'.padStart(10)}  ${'‖τ‖/‖cp‖'.padStart(10)}  ${'cosine'.padStart(8)}  ${'sign'.padStart(8)}`;

/** The readable report: per layer, per module, the top tensors by relative magnitude, what was not compared. */
export function formatStatsTable(stats: ChatVectorStats, top = 10): string {
  const lines: string[] = [];
  const t = stats.total;
  lines.push(`chat vector ${stats.vector + 1}: τ = chat − base against cp − base over ${t.elements.toLocaleString('en-US')} elements of ${t.tensors} tensors`);
  lines.push(`  cosine = cos(τ, cp − base); sign = same sign where both are nonzero`);
  const row = (label: string, tensors: number | string, cells: string) => `${label.padEnd(10)}${String(tensors).padStart(7)}  ${cells}`;
  lines.push('', row('layer', 'tensors', HEAD));
  for (const l of stats.layers) lines.push(row(String(l.layer), l.tensors, metricCells(l)));
  lines.push(row('all', t.tensors, metricCells(t)));
  lines.push('', row('module', 'tensors', HEAD));
  for (const m of stats.modules) lines.push(row(m.module, m.tensors, metricCells(m)));
  const ranked = stats.tensors.filter((x): x is TensorStats & { relMagnitude: number } => x.relMagnitude !== null).sort((a, b) => b.relMagnitude - a.relMagnitude).slice(0, top);
  if (ranked.length) {
    const w = Math.max(...ranked.map((x) => x.name.length));
    lines.push('', `top ${ranked.length} tensors by ‖τ‖/‖cp‖`, `${'tensor'.padEnd(w)}  ${HEAD}`);
    for (const x of ranked) lines.push(`${x.name.padEnd(w)}  ${metricCells(x)}`);
  }
  if (t.nonFinite) lines.push('', `${t.nonFinite} element(s) with NaN or ±Inf in base, chat or cp are left out`);
  if (stats.notCompared.length) {
    lines.push('', `not compared (${stats.notCompared.length}):`);
    for (const n of stats.notCompared) lines.push(`  ${n.name}: ${n.reason}`);
  }
  return lines.join('\n') + '\n';
}
