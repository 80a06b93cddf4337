import { formatBytes } from '../core/format.ts';
import type { MergeProgress } from '../core/merge/engine.ts';

export { formatBytes };

function formatEta(s: number | null): string {
  if (s === null || !Number.isFinite(s)) return '--:--';
  s = Math.round(s);
  const h = Math.floor(s / 3600), m = Math.floor((s % 3600) / 60), sec = s % 60;
  return h ? `${h}:${String(m).padStart(2, '0')}:${String(sec).padStart(2, '0')}` : `${m}:${String(sec).padStart(2, '0')}`;
}

/** A bar that redraws in place on a TTY, and plain lines (at most one per 10% or 10 s) otherwise. */
export function progressReporter(stream: NodeJS.WriteStream): { update(p: MergeProgress): void; done(): void } {
  const tty = !!stream.isTTY;
  let lastLine = 0, lastPct = -10, drawn = false;
  return {
    update(p) {
      const pct = p.bytesTotal ? (p.bytesDone / p.bytesTotal) * 100 : 100;
      const stats = `${formatBytes(p.bytesDone)}/${formatBytes(p.bytesTotal)} ${(p.bytesPerSecond / 1e6).toFixed(1)} MB/s ETA ${formatEta(p.etaSeconds)}`;
      if (tty) {
        const width = 24, fill = Math.round((pct / 100) * width);
        const line = `[${'#'.repeat(fill)}${'.'.repeat(width - fill)}] ${pct.toFixed(1).padStart(5)}% ${stats} ${p.tensor}`;
        drawn = true;
        stream.write(`\r${line.slice(0, (stream.columns || 120) - 1).padEnd((stream.columns || 120) - 1)}`);
      } else if (pct - lastPct >= 10 || Date.now() - lastLine > 10_000) {
        lastPct = Math.floor(pct / 10) * 10;
        lastLine = Date.now();
        stream.write(`progress ${pct.toFixed(1)}% ${stats} ${p.file} ${p.tensor}\n`);
      }
    },
    done() {
      if (tty && drawn) stream.write('\n');
      drawn = false;
    },
  };
}
