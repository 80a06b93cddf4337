/** The chat preview's worker, started on first use (the page pays for ORT only when someone opens the chat). */
import * as Comlink from 'comlink';
import type { PreviewWorkerApi } from '../../../workers/preview.worker.ts';

export type PreviewWorker = Comlink.Remote<PreviewWorkerApi>;

let worker: PreviewWorker | null = null;

export function getPreviewWorker(): PreviewWorker {
  if (!worker) worker = Comlink.wrap<PreviewWorkerApi>(new Worker(new URL('../../../workers/preview.worker.ts', import.meta.url), { type: 'module' }));
  return worker;
}
