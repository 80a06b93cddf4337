import { expect, test } from '@playwright/test';
import type { GpuCheckResult } from '../src/gpu/check-page.ts';

// The WGSL merge kernels inside Chromium (WebGPU through --enable-unsafe-webgpu; SwiftShader here)
// against the CPU kernel on the same page, bit for bit. gpu-check.html is a test page, not the studio.
test('the WebGPU merge kernels give the CPU kernel\'s bytes in the browser', async ({ page }) => {
  test.setTimeout(120_000);
  const pageErrors: string[] = [];
  page.on('pageerror', (e) => pageErrors.push(e.message));
  await page.goto('/gpu-check.html');
  await expect(page.locator('body')).toHaveAttribute('data-ready', 'true');
  const r = await page.evaluate((seed) => (window as unknown as { gpuCheck(seed: number): Promise<GpuCheckResult> }).gpuCheck(seed), 7);
  expect(r.adapter, 'Chromium offers no WebGPU adapter: is --enable-unsafe-webgpu in playwright.config.ts?').not.toBeNull();
  console.log(`browser WebGPU adapter: ${r.adapter}; ${JSON.stringify(r.floats)}; ${r.gpuElements} elements on the GPU, ${r.cpuElements} flagged to the CPU`);
  expect(r.mismatches).toEqual([]);
  expect(r.cases).toBe(54);
  expect(r.gpuElements + r.cpuElements).toBe(r.elements);
  expect(r.gpuElements / r.elements).toBeGreaterThan(0.6);
  expect(pageErrors).toEqual([]);
});
