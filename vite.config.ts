/// <reference types="vitest/config" />
import { defineConfig } from 'vite';
import react from '@vitejs/plugin-react';

// crossOriginIsolated (SharedArrayBuffer, ORT threads) needs these on every response.
const isolation = { 'Cross-Origin-Opener-Policy': 'same-origin', 'Cross-Origin-Embedder-Policy': 'require-corp' };

export default defineConfig({
  plugins: [react()],
  server: { headers: isolation },
  preview: { headers: isolation },
  // The studio worker imports yaml (through core); listed so the first dev load does not reload midway.
  optimizeDeps: { include: ['yaml', 'comlink', 'zustand'] },
  // gpu-check.html: a test page for e2e/gpu-kernels.spec.ts (WebGPU kernels vs the CPU), not part of the studio.
  build: { target: 'esnext', rolldownOptions: { input: { main: 'index.html', 'gpu-check': 'gpu-check.html' } } },
  worker: { format: 'es' },
  test: {
    include: ['src/**/*.spec.ts', 'test/**/*.spec.ts', 'scripts/**/*.spec.ts', 'workers/**/*.spec.ts'],
    testTimeout: 60_000,
    pool: 'forks',
  },
});
