/** The chat preview's worker, started on first use (the page pays for ORT only when someone opens the chat). */
import * as Comlink from 'comlink';
import type { PreviewWorkerApi } from '../../../workers/preview.worker.ts';
import { getWorker } from '../store.ts';

export type PreviewWorker = Comlink.Remote<PreviewWorkerApi>;

let worker: PreviewWorker | null = null;

export function getPreviewWorker(): PreviewWorker {
  if (!worker) {
    worker = Comlink.wrap<PreviewWorkerApi>(new Worker(new URL('../../../workers/preview.worker.ts', import.meta.url), { type: 'module' }));
    // The preview reads the recipe's models (local folders, Hub repositories) from the studio worker that loaded them.
    const channel = new MessageChannel();
    void getWorker().connectPreview(Comlink.transfer(channel.port1, [channel.port1]));
    void worker.connectModels(Comlink.transfer(channel.port2, [channel.port2]));
  }
  return worker;
}
