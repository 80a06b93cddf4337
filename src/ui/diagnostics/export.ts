/** Downloads of the diagnostics: CSV and JSON as `chatvec stats` writes them, and PNG pictures of the charts. */
import { formatStatsCsv } from '../../core/stats/format-stats.ts';
import type { ChatVectorStats } from '../../core/stats/stats-report.ts';

export function downloadBlob(blob: Blob, fileName: string): void {
  const url = URL.createObjectURL(blob);
  const a = Object.assign(document.createElement('a'), { href: url, download: fileName });
  a.style.display = 'none';
  document.body.append(a);
  a.click();
  a.remove();
  // The download holds its own reference by now; the URL only has to outlive the click.
  setTimeout(() => URL.revokeObjectURL(url), 60_000);
}

/** `chatvec-stats-v1`: the chat vector's number, as the CLI's notes count them. */
export function exportBaseName(stats: ChatVectorStats): string {
  return `chatvec-stats-v${stats.vector + 1}`;
}

/** Byte for byte what `chatvec stats --csv` prints. */
export function downloadCsv(stats: ChatVectorStats): void {
  downloadBlob(new Blob([formatStatsCsv(stats)], { type: 'text/csv' }), `${exportBaseName(stats)}.csv`);
}

/** Byte for byte what `chatvec stats --json` prints. */
export function downloadJson(stats: ChatVectorStats): void {
  downloadBlob(new Blob([JSON.stringify(stats, null, 2) + '\n'], { type: 'application/json' }), `${exportBaseName(stats)}.json`);
}

export interface LegendItem {
  label: string;
  color: string;
}

/**
 * A chart's canvas as a PNG on white, with a title above it and, for charts whose legend is not drawn on the
 * canvas (uPlot keeps its legend in the DOM), the series names below.
 */
export async function downloadCanvasPng(canvas: HTMLCanvasElement, fileName: string, title: string, legend: LegendItem[] = []): Promise<void> {
  const scale = canvas.width / Math.max(1, canvas.clientWidth || canvas.width);
  const pad = Math.round(12 * scale), titleHeight = Math.round(24 * scale), legendHeight = legend.length ? Math.round(24 * scale) : 0;
  const out = document.createElement('canvas');
  out.width = canvas.width + 2 * pad;
  out.height = canvas.height + titleHeight + legendHeight + 2 * pad;
  const ctx = out.getContext('2d')!;
  ctx.fillStyle = '#ffffff';
  ctx.fillRect(0, 0, out.width, out.height);
  ctx.fillStyle = '#1d2330';
  ctx.textBaseline = 'top';
  ctx.font = `600 ${Math.round(14 * scale)}px system-ui, sans-serif`;
  ctx.fillText(title, pad, pad);
  ctx.drawImage(canvas, pad, pad + titleHeight);
  ctx.font = `${Math.round(12 * scale)}px system-ui, sans-serif`;
  ctx.textBaseline = 'middle';
  let x = pad;
  const y = pad + titleHeight + canvas.height + legendHeight / 2;
  for (const item of legend) {
    ctx.fillStyle = item.color;
    ctx.fillRect(x, y - 2 * scale, 18 * scale, 4 * scale);
    ctx.fillStyle = '#1d2330';
    ctx.fillText(item.label, x + 24 * scale, y);
    x += 24 * scale + ctx.measureText(item.label).width + 20 * scale;
  }
  const blob = await new Promise<Blob | null>((resolve) => out.toBlob(resolve, 'image/png'));
  if (!blob) throw new Error('The browser could not encode the chart as PNG.');
  downloadBlob(blob, fileName);
}
