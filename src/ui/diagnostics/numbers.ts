/** Four significant digits with a typographic minus: the precision the diagnostics show. */
export function sig4(v: number | null): string {
  if (v === null) return '—';
  const s = v.toPrecision(4);
  return s.startsWith('-') ? `−${s.slice(1)}` : s;
}

/** "about 12 s" / "about 3 min": an ETA for a pass that takes seconds to minutes. */
export function aboutTime(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  return seconds < 90 ? `about ${Math.max(1, Math.round(seconds))} s` : `about ${Math.round(seconds / 60)} min`;
}
