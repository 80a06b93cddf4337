/// <reference types="@webgpu/types" />

/** A WebGPU device opened for the merge kernels, with what the kernels need to know about it. */
export interface GpuDevice {
  device: GPUDevice;
  /** Adapter as a person reads it, e.g. "google swiftshader (SwiftShader driver 5.0.0), software". */
  description: string;
  /** The adapter is a software rasterizer / fallback adapter. */
  software: boolean;
  /** The device has `shader-f16`. */
  shaderF16: boolean;
}

/** The page's or worker's `navigator.gpu`, else WebGPU for Node (optional `webgpu` package); null when neither exists. */
export async function defaultGpu(): Promise<GPU | null> {
  const nav = (globalThis as { navigator?: { gpu?: GPU } }).navigator;
  if (nav?.gpu) return nav.gpu;
  if (typeof process !== 'undefined' && process.versions?.node) return (await import('./node-gpu.ts')).nodeGpu();
  return null;
}

/**
 * Request an adapter and a device with the adapter's own buffer and dispatch limits (the defaults
 * cap storage bindings at 128 MiB and 8 per stage) and `shader-f16` where there is one.
 * Every call takes a fresh adapter: an adapter hands out one device only. Null when there is no adapter.
 */
export async function openGpuDevice(gpu?: GPU | null): Promise<GpuDevice | null> {
  const g = gpu === undefined ? await defaultGpu() : gpu;
  if (!g) return null;
  const adapter = await g.requestAdapter({ powerPreference: 'high-performance' }).catch(() => null);
  if (!adapter) return null;
  const l = adapter.limits;
  const shaderF16 = adapter.features.has('shader-f16');
  const device = await adapter.requestDevice({
    requiredFeatures: shaderF16 ? ['shader-f16'] : [],
    requiredLimits: {
      maxStorageBufferBindingSize: l.maxStorageBufferBindingSize,
      maxBufferSize: l.maxBufferSize,
      maxStorageBuffersPerShaderStage: l.maxStorageBuffersPerShaderStage,
      maxComputeWorkgroupsPerDimension: l.maxComputeWorkgroupsPerDimension,
    },
  });
  const info = adapter.info;
  const software = !!(info as GPUAdapterInfo & { isFallbackAdapter?: boolean }).isFallbackAdapter || /swiftshader|llvmpipe|lavapipe|software/i.test(`${info.vendor} ${info.architecture} ${info.device} ${info.description}`);
  const name = [info.vendor, info.architecture].filter(Boolean).join(' ') || 'unknown adapter';
  const description = `${name}${info.description ? ` (${info.description})` : ''}${software ? ', software' : ''}`;
  return { device, description, software, shaderF16 };
}
