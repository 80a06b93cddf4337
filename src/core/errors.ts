/** An error a person can act on: where it happened, what was expected, what was found, what to do. */
export interface ChatvecErrorDetails {
  /** Stable machine-readable code, e.g. `header-too-large`. */
  code: string;
  /** File the problem is in (path or name as the user knows it). */
  file?: string;
  /** Tensor (or JSON field) the problem concerns. */
  tensor?: string;
  expected?: string;
  found?: string;
  /** What the user can do about it. */
  hint?: string;
}

export class ChatvecError extends Error {
  readonly details: ChatvecErrorDetails;
  constructor(summary: string, details: ChatvecErrorDetails) {
    super(formatMessage(summary, details));
    this.name = 'ChatvecError';
    this.details = details;
  }
  get code(): string {
    return this.details.code;
  }
}

function formatMessage(summary: string, d: ChatvecErrorDetails): string {
  const where = [d.file && `${d.file}`, d.tensor && `tensor "${d.tensor}"`].filter(Boolean).join(', ');
  let msg = where ? `${where}: ${summary}` : summary;
  if (d.expected !== undefined) msg += `; expected ${d.expected}`;
  if (d.found !== undefined) msg += `, found ${d.found}`;
  if (d.hint) msg += `. ${d.hint}`;
  return msg;
}

export class CancelledError extends Error {
  constructor() {
    super('cancelled');
    this.name = 'CancelledError';
  }
}

export function throwIfAborted(signal?: AbortSignal): void {
  if (signal?.aborted) throw new CancelledError();
}
