/**
 * TEST PAGE ONLY (gpu-check.html, for e2e/gpu-kernels.spec.ts): runs the WebGPU merge kernels in the
 * browser on generated inputs and compares them with the CPU kernel, bit for bit. Not part of the studio.
 */
import { dtypeSize, type FloatDtype } from '../core/dtype.ts';
import { MergeKernel } from '../core/merge/kernel.ts';
import { openGpuDevice } from './device.ts';
import { probeFloatBehaviour, type FloatBehaviour } from './float-probe.ts';
import { GpuMergeBackend } from './gpu-merge-backend.ts';
import { firstDifference, SeededRandom, trickyMergeCase } from './tricky-inputs.ts';

export interface GpuCheckResult {
  adapter: string | null;
  floats: FloatBehaviour | null;
  cases: number;
  elements: number;
  gpuElements: number;
  cpuElements: number;
  mismatches: string[];
}

const DTYPES: FloatDtype[] = ['BF16', 'F16', 'F32'];

async function gpuCheck(seed: number): Promise<GpuCheckResult> {
  const result: GpuCheckResult = { adapter: null, floats: null, cases: 0, elements: 0, gpuElements: 0, cpuElements: 0, mismatches: [] };
  const dev = await openGpuDevice();
  if (!dev) return result;
  result.adapter = dev.description;
  try {
    result.floats = await probeFloatBehaviour(dev.device);
    const backend = await GpuMergeBackend.create({ gpu: dev, cpu: new MergeKernel(1 << 16, 0), dispatchElements: 2048 });
    const cpu = new MergeKernel(1 << 16, 0);
    const rng = new SeededRandom(seed);
    for (const cpDtype of DTYPES) {
      for (const termDtype of DTYPES) {
        for (const outDtype of DTYPES) {
          for (const terms of [1, 2]) {
            const c = trickyMergeCase(rng, 5003, cpDtype, Array.from({ length: terms }, (_, k) => ({ baseDtype: termDtype, chatDtype: DTYPES[(DTYPES.indexOf(termDtype) + k) % 3], alpha: k ? -0.4 : 0.85 })));
            const size = dtypeSize(outDtype);
            const gpuOut = new Uint8Array(c.count * size), cpuOut = new Uint8Array(c.count * size);
            await backend.merge(c.count, c.cp, c.cpDtype, c.terms, outDtype, gpuOut);
            cpu.merge(c.count, c.cp, c.cpDtype, c.terms, outDtype, cpuOut);
            const difference = firstDifference(gpuOut, cpuOut, size);
            if (difference) result.mismatches.push(`${cpDtype} + ${terms}×${termDtype} → ${outDtype}: ${difference}`);
            result.cases++;
            result.elements += c.count;
          }
        }
      }
    }
    result.gpuElements = backend.gpuElements;
    result.cpuElements = backend.cpuElements;
    backend.dispose(false);
  } finally {
    dev.device.destroy();
  }
  return result;
}

(window as unknown as { gpuCheck: typeof gpuCheck }).gpuCheck = gpuCheck;
document.body.dataset.ready = 'true';
