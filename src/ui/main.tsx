/// <reference types="vite/client" />
import * as Comlink from 'comlink';
import { StrictMode } from 'react';
import { createRoot } from 'react-dom/client';
import type { StudioWorkerApi } from '../../workers/studio.worker.ts';
import { App } from './App.tsx';
import { useStudio } from './store.ts';
import './styles.css';

const worker = new Worker(new URL('../../workers/studio.worker.ts', import.meta.url), { type: 'module' });
worker.addEventListener('error', () => {
  useStudio.setState({ phase: 'failed', error: 'The studio worker could not start. Reload the page; if this persists, use a current Chromium, Firefox or Safari.' });
});
void useStudio.getState().start(Comlink.wrap<StudioWorkerApi>(worker));

createRoot(document.getElementById('root')!).render(
  <StrictMode>
    <App />
  </StrictMode>,
);
