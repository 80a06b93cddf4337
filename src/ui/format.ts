/** Numbers as people read them, the same in every locale so screenshots and tests are stable. */
export function formatCount(n: number): string {
  return n.toLocaleString('en-US');
}

/** A plain number with a typographic minus (−1, not -1). */
export function formatNumber(n: number): string {
  return n < 0 ? `−${-n}` : String(n);
}

export { formatBytes } from '../core/format.ts';
