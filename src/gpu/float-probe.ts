/// <reference types="@webgpu/types" />

/** How a device evaluates plain f32 WGSL, without the merge kernel's guards. */
export interface FloatBehaviour {
  /** A subnormal input reads as zero (denormals-are-zero). */
  flushesSubnormalInputs: boolean;
  /** A result in the subnormal range is written as zero (flush-to-zero). */
  flushesSubnormalResults: boolean;
  /** `a * b + c` is evaluated as one fused multiply-add. */
  fusesMultiplyAdd: boolean;
  /** ∞ − ∞ gives a NaN. */
  infMinusInfIsNaN: boolean;
  /** 1 + 2⁻²⁴ rounds to 1 and 1 + 3·2⁻²⁴ to 1 + 2⁻²² (round to nearest even). */
  roundsToNearestEven: boolean;
}

const PROBE = `
@group(0) @binding(0) var<storage, read> v: array<f32>;
@group(0) @binding(1) var<storage, read_write> r: array<u32>;
@compute @workgroup_size(1)
fn main() {
  r[0] = bitcast<u32>(v[0] + v[1]);
  r[1] = bitcast<u32>(v[2] * v[2]);
  r[2] = bitcast<u32>(v[3] * v[4] + v[5]);
  r[3] = bitcast<u32>(v[6] - v[6]);
  r[4] = bitcast<u32>(v[7] + v[8]);
  r[5] = bitcast<u32>(v[7] + v[9]);
}`;

/**
 * Run one tiny unguarded shader and report what the device does with subnormals, a * b + c,
 * infinities and ties: the findings behind the merge kernel's guards (see merge-shader.ts).
 */
export async function probeFloatBehaviour(device: GPUDevice): Promise<FloatBehaviour> {
  const inputs = new Uint32Array([
    0x00000800, // 2^-138, subnormal
    0x00000000,
    0x1c800000, // 2^-70: squared, 2^-140 (subnormal)
    0x3f800001, // 1 + 2^-23
    0x3f7ffffe, // 1 - 2^-23: exact product 1 - 2^-46 rounds to 1
    0xbf800000, // -1: unfused 0, fused -2^-46
    0x7f800000, // +Inf
    0x3f800000, // 1
    0x33800000, // 2^-24: a tie, rounds down to 1
    0x34400000, // 3·2^-24: rounds up to 1 + 2^-22
  ]);
  const src = device.createBuffer({ size: inputs.byteLength, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_DST });
  const dst = device.createBuffer({ size: 32, usage: GPUBufferUsage.STORAGE | GPUBufferUsage.COPY_SRC });
  const read = device.createBuffer({ size: 32, usage: GPUBufferUsage.MAP_READ | GPUBufferUsage.COPY_DST });
  try {
    device.queue.writeBuffer(src, 0, inputs);
    const pipeline = await device.createComputePipelineAsync({ layout: 'auto', compute: { module: device.createShaderModule({ code: PROBE }), entryPoint: 'main' } });
    const enc = device.createCommandEncoder();
    const pass = enc.beginComputePass();
    pass.setPipeline(pipeline);
    pass.setBindGroup(0, device.createBindGroup({ layout: pipeline.getBindGroupLayout(0), entries: [src, dst].map((buffer, binding) => ({ binding, resource: { buffer } })) }));
    pass.dispatchWorkgroups(1);
    pass.end();
    enc.copyBufferToBuffer(dst, 0, read, 0, 32);
    device.queue.submit([enc.finish()]);
    await read.mapAsync(GPUMapMode.READ);
    const r = new Uint32Array(read.getMappedRange().slice(0));
    read.unmap();
    return {
      flushesSubnormalInputs: r[0] === 0,
      flushesSubnormalResults: r[1] === 0,
      fusesMultiplyAdd: r[2] !== 0,
      infMinusInfIsNaN: (r[3] & 0x7fffffff) > 0x7f800000,
      roundsToNearestEven: r[4] === 0x3f800000 && r[5] === 0x3f800002,
    };
  } finally {
    for (const b of [src, dst, read]) b.destroy();
  }
}
