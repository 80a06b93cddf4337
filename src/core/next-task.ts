/**
 * Resolve on a later task, not a microtask: a worker busy with a chain of resolved promises (each decode
 * step of an ONNX session) never reads its messages otherwise, so a Stop from the page would wait for the end.
 */
export function nextTask(): Promise<void> {
  if (typeof setImmediate === 'function') return new Promise((resolve) => setImmediate(resolve));
  return new Promise((resolve) => {
    waiting.push(resolve);
    channel ??= openChannel();
    channel.port2.postMessage(null);
  });
}

const waiting: (() => void)[] = [];
let channel: MessageChannel | null = null;

function openChannel(): MessageChannel {
  const c = new MessageChannel();
  c.port1.onmessage = () => waiting.shift()?.();
  return c;
}
