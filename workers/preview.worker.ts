/// <reference types="vite/client" />
/// <reference lib="webworker" />
/** The chat preview's worker, apart from the studio worker so a long generation never blocks a merge or a plan. */
import * as Comlink from 'comlink';
import { Preview, type SweepRequest, type ChatMessage, type CompareColumn, type PreviewBackend, type PreviewSettings, type PreviewSource } from './preview-api.ts';
import type { GpuLike } from '../src/model/session.ts';
import type { TreeReader } from '../src/core/sources/remote-tree.ts';
import type { SweepProgress } from '../src/sweep/types.ts';

const preview = new Preview({
  demoUrl: new URL(`${import.meta.env.BASE_URL}demo/`, self.location.href).href,
  root: () => navigator.storage.getDirectory(),
  gpu: (navigator as unknown as { gpu?: GpuLike }).gpu,
});

/** Call `run`, then free the page's callback (a comlink proxy holds a MessagePort open). */
async function withCallback<T, C>(callback: C, run: (callback: C) => Promise<T>): Promise<T> {
  try {
    return await run(callback);
  } finally {
    (callback as Partial<Comlink.Remote<unknown>>)[Comlink.releaseProxy]?.();
  }
}

const api = {
  /** The studio worker's models, served on `port` (see its `connectPreview`), for live merges of the recipe. */
  connectModels: async (port: MessagePort) => preview.connectModels(Comlink.wrap<TreeReader>(port)),
  backends: () => preview.backends(),
  open: (source: PreviewSource, backend: PreviewBackend) => preview.open(source, backend),
  setAlpha: (alpha: number) => preview.setAlpha(alpha),
  renderPrompt: async (messages: ChatMessage[], system: string) => preview.renderPrompt(messages, system),
  generate: (messages: ChatMessage[], system: string, settings: PreviewSettings, onToken: (t: { id: number; text: string }) => void) => withCallback(onToken, (cb) => preview.generate(messages, system, settings, cb)),
  stop: async () => preview.stop(),
  compare: (messages: ChatMessage[], system: string, alphas: number[], maxNewTokens: number, onUpdate: (columns: CompareColumn[]) => void) => withCallback(onUpdate, (cb) => preview.compare(messages, system, alphas, maxNewTokens, cb)),
  close: () => preview.close(),
  sweep: (request: SweepRequest, onProgress: (p: SweepProgress) => void) => withCallback(onProgress, (cb) => preview.sweep(request, cb)),
  stopSweep: async () => preview.stopSweep(),
  savedSweeps: () => preview.sweeps!.list(),
  loadSweep: (id: string) => preview.sweeps!.load(id),
  deleteSweep: (id: string) => preview.sweeps!.remove(id),
};
export type PreviewWorkerApi = typeof api;

Comlink.expose(api);
