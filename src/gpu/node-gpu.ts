/// <reference types="@webgpu/types" />

/** Chromium's SwiftShader Vulkan driver (Debian's `chromium` package ships it beside the browser). */
export const SWIFTSHADER_DIR = '/usr/lib/chromium';
const ICD = `${SWIFTSHADER_DIR}/vk_swiftshader_icd.json`;
const VULKAN_LOADER = `${SWIFTSHADER_DIR}/libvulkan.so.1`;
/** Linux dlopen flag (not in Node 20's os.constants): keep the library loaded when Node closes it. */
const RTLD_NOW_GLOBAL_NODELETE = 0x2 | 0x100 | 0x1000;

/** dlopen a shared library for good; Node then reports "did not self-register", which means it loaded. */
function loadLibrary(file: string): boolean {
  try {
    process.dlopen({ exports: {} }, file, RTLD_NOW_GLOBAL_NODELETE);
    return true;
  } catch (e) {
    return /did not self-register/.test((e as Error).message);
  }
}

let cached: Promise<GPU | null> | undefined;

/**
 * WebGPU in Node through the optional `webgpu` package (Dawn). When no Vulkan/Metal/D3D adapter is
 * found, Chromium's software Vulkan driver (SwiftShader) is tried: it is slow, but it runs WGSL
 * exactly, which is what tests and CPU-only machines need. Null when the package is not installed
 * or no adapter comes up.
 */
export function nodeGpu(): Promise<GPU | null> {
  cached ??= load();
  return cached;
}

async function load(): Promise<GPU | null> {
  // No static Node imports: this file is reachable from browser bundles (as a chunk that never loads there).
  const { existsSync } = process.getBuiltinModule('node:fs');
  const specifier = 'webgpu'; // a variable, so bundlers leave this Node-only import alone
  let mod: { create(flags: string[]): GPU; globals: object };
  try {
    mod = (await import(/* @vite-ignore */ specifier)) as typeof mod;
  } catch {
    return null;
  }
  // Dawn's objects (GPUBufferUsage, GPUMapMode, …) are globals in a browser; the kernels use them too.
  for (const [k, v] of Object.entries(mod.globals)) if (!(k in globalThis)) (globalThis as Record<string, unknown>)[k] = v;
  const linux = process.platform === 'linux';
  const hasLoader = linux && loadLibrary('libvulkan.so.1');
  const useSwiftShader = linux && existsSync(ICD) && !process.env.VK_ICD_FILENAMES;
  // Dawn opens `libvulkan.so.1` by name; without a system Vulkan loader, Chromium's is preloaded under that name.
  if (linux && !hasLoader && existsSync(VULKAN_LOADER) && loadLibrary(VULKAN_LOADER) && useSwiftShader) process.env.VK_ICD_FILENAMES = ICD;
  const gpu = mod.create([]);
  if (await gpu.requestAdapter().catch(() => null)) return gpu;
  if (!useSwiftShader || !hasLoader) return null;
  process.env.VK_ICD_FILENAMES = ICD;
  const software = mod.create([]);
  return (await software.requestAdapter().catch(() => null)) ? software : null;
}
