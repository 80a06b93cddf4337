/** CSV as RFC 4180 writes it: fields with a comma, quote or line break quoted, quotes doubled. */

/** One field; null and undefined are empty, numbers keep every digit (String(n)). */
export function csvField(value: unknown): string {
  if (value === null || value === undefined) return '';
  const s = String(value);
  return /[",\r\n]/.test(s) ? `"${s.replaceAll('"', '""')}"` : s;
}

/** A header line and one line per row, each ending in \n. */
export function csvText(header: readonly string[], rows: readonly (readonly unknown[])[]): string {
  return [header, ...rows].map((r) => r.map(csvField).join(',')).join('\n') + '\n';
}
