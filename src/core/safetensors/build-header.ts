import type { Dtype } from '../dtype.ts';
import { dtypeSize } from '../dtype.ts';
import { elementCount } from './header.ts';

export interface HeaderTensor {
  name: string;
  dtype: Dtype;
  shape: number[];
}

export interface BuiltHeader {
  /** The whole prefix: 8-byte length + JSON padded with spaces to a multiple of 8. */
  bytes: Uint8Array;
  /** File offset of each tensor's first byte, in the order given. */
  offsets: number[];
  /** Total file size. */
  fileSize: number;
}

/** Lay out a safetensors file for tensors written in the given order. */
export function buildSafetensorsHeader(tensors: HeaderTensor[], metadata: Record<string, string> = { format: 'pt' }): BuiltHeader {
  const obj: Record<string, unknown> = { __metadata__: metadata };
  let pos = 0;
  const rel: number[] = [];
  for (const t of tensors) {
    const len = elementCount(t.shape) * dtypeSize(t.dtype);
    obj[t.name] = { dtype: t.dtype, shape: t.shape, data_offsets: [pos, pos + len] };
    rel.push(pos);
    pos += len;
  }
  const json = new TextEncoder().encode(JSON.stringify(obj));
  const padded = Math.ceil(json.length / 8) * 8;
  const bytes = new Uint8Array(8 + padded).fill(0x20, 8);
  bytes.set(json, 8);
  new DataView(bytes.buffer).setBigUint64(0, BigInt(padded), true);
  return { bytes, offsets: rel.map((r) => r + bytes.length), fileSize: bytes.length + pos };
}
