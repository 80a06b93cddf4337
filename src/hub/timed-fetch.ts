/**
 * A fetch whose every request (body included) is given up after `timeoutMs`, or when `signal` aborts.
 * For the small JSON and probe requests; range reads use a stall timer instead (a large body may take long).
 */
export function timedFetch(params: { fetch: typeof fetch; timeoutMs: number; signal?: AbortSignal }): typeof fetch {
  return (input, init) => {
    const timeout = AbortSignal.timeout(params.timeoutMs);
    return params.fetch(input, { ...init, signal: params.signal ? AbortSignal.any([params.signal, timeout]) : timeout });
  };
}
