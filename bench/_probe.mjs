import os from 'node:os';
try { process.dlopen({ exports: {} }, '/usr/lib/chromium/libvulkan.so.1', os.constants.dlopen.RTLD_NOW | os.constants.dlopen.RTLD_GLOBAL | 0x1000); } catch (e) { console.log('dlopen:', e.message); }
process.env.VK_ICD_FILENAMES = '/usr/lib/chromium/vk_swiftshader_icd.json';
const { create, globals } = await import('webgpu');
const gpu = create([]);
const adapter = await gpu.requestAdapter();
const i = adapter.info;
console.log(i.vendor, '|', i.architecture, '|', i.device, '|', i.description, '|', i.isFallbackAdapter, adapter.features.has('shader-f16'));
const a2 = await create([]).requestAdapter({ forceFallbackAdapter: true }); console.log('fallback', a2 && a2.info.description);
