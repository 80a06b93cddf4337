import { ChatvecError } from '../errors.ts';
import { dtypeSize, isDtype, type Dtype } from '../dtype.ts';
import type { ByteSource } from '../sources/byte-source.ts';

/** Largest header we accept: the reference implementation's limit. */
export const MAX_HEADER_BYTES = 100_000_000;

export interface TensorEntry {
  name: string;
  dtype: Dtype;
  shape: number[];
  /** Offset of the first byte from the start of the file (not of the data buffer). */
  offset: number;
  byteLength: number;
}

export interface SafetensorsHeader {
  file: string;
  fileSize: number;
  headerLength: number;
  /** File offset of the data buffer: 8 + headerLength. */
  dataStart: number;
  tensors: TensorEntry[];
  metadata: Record<string, string>;
}

/** Read and validate a safetensors header; nothing is allocated from a size before it is checked. */
export async function readSafetensorsHeader(src: ByteSource): Promise<SafetensorsHeader> {
  const file = src.name;
  if (src.size < 8) {
    throw new ChatvecError('file is too short to be safetensors', { code: 'file-too-short', file, expected: 'at least 8 bytes (the header length)', found: `${src.size} bytes`, hint: 'The download may be incomplete; fetch the file again' });
  }
  const lenBytes = await src.read(0, 8);
  const dv = new DataView(lenBytes.buffer, lenBytes.byteOffset, 8);
  const declared = dv.getBigUint64(0, true); // exact, so the message shows the real value even above 2^53
  if (declared > BigInt(MAX_HEADER_BYTES)) {
    throw new ChatvecError('header length is too large', { code: 'header-too-large', file, expected: `at most ${MAX_HEADER_BYTES} bytes`, found: `${declared} bytes`, hint: 'This is not a safetensors file, or it is corrupt' });
  }
  const headerLength = Number(declared);
  if (8 + headerLength > src.size) {
    throw new ChatvecError('header extends past the end of the file', { code: 'header-past-eof', file, expected: `a header of at most ${src.size - 8} bytes`, found: `${headerLength} bytes`, hint: 'The file is truncated; download it again' });
  }
  const headerBytes = await src.read(8, headerLength);
  return parseSafetensorsHeader(headerBytes, file, src.size);
}

/** Validate the JSON header bytes of a file of `fileSize` bytes. */
export function parseSafetensorsHeader(headerBytes: Uint8Array, file: string, fileSize: number): SafetensorsHeader {
  const headerLength = headerBytes.length;
  const dataStart = 8 + headerLength;
  const bufferSize = fileSize - dataStart;
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(headerBytes);
  } catch {
    const at = firstInvalidUtf8(headerBytes);
    const found = at < 0 ? 'bytes that are not UTF-8' : `byte 0x${headerBytes[at].toString(16).padStart(2, '0')} at file offset ${8 + at}`;
    throw new ChatvecError('header is not valid UTF-8', { code: 'header-not-utf8', file, expected: 'UTF-8 JSON text', found, hint: 'This is not a safetensors file, or it is corrupt' });
  }
  let json: unknown;
  try {
    json = JSON.parse(text);
  } catch (e) {
    throw new ChatvecError('header is not valid JSON', { code: 'header-not-json', file, expected: 'a JSON object of tensor entries', found: (e as Error).message, hint: 'This is not a safetensors file, or it is corrupt' });
  }
  if (typeof json !== 'object' || json === null || Array.isArray(json)) {
    throw new ChatvecError('header is not a JSON object', { code: 'header-not-object', file, expected: 'an object of tensor entries', found: Array.isArray(json) ? 'an array' : json === null ? 'null' : typeof json });
  }
  const metadata: Record<string, string> = {};
  const tensors: TensorEntry[] = [];
  for (const [name, raw] of Object.entries(json as Record<string, unknown>)) {
    if (name === '__metadata__') {
      if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) {
        throw new ChatvecError('__metadata__ is not an object', { code: 'bad-metadata', file, tensor: '__metadata__', expected: 'a string→string map', found: describe(raw) });
      }
      for (const [k, v] of Object.entries(raw)) {
        if (typeof v !== 'string') throw new ChatvecError('__metadata__ value is not a string', { code: 'bad-metadata', file, tensor: `__metadata__.${k}`, expected: 'a string', found: describe(v) });
        metadata[k] = v;
      }
      continue;
    }
    tensors.push(parseEntry(name, raw, file, dataStart, bufferSize));
  }
  const sorted = [...tensors].sort((a, b) => a.offset - b.offset || a.byteLength - b.byteLength);
  for (let i = 1; i < sorted.length; i++) {
    const prev = sorted[i - 1], cur = sorted[i];
    if (cur.offset < prev.offset + prev.byteLength) {
      throw new ChatvecError('tensor data overlaps another tensor', { code: 'tensor-overlap', file, tensor: cur.name, expected: `data starting at or after byte ${prev.offset + prev.byteLength - dataStart} (end of "${prev.name}")`, found: `data_offsets starting at ${cur.offset - dataStart}` });
    }
  }
  return { file, fileSize, headerLength, dataStart, tensors, metadata };
}

function parseEntry(name: string, raw: unknown, file: string, dataStart: number, bufferSize: number): TensorEntry {
  const err = (what: string, expected: string, found: string, code = 'bad-tensor-entry') => new ChatvecError(what, { code, file, tensor: name, expected, found });
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw err('entry is not an object', 'an object with dtype, shape and data_offsets', describe(raw));
  const e = raw as Record<string, unknown>;
  if (!isDtype(e.dtype)) throw err('unknown dtype', 'one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, …', describe(e.dtype), 'bad-dtype');
  if (!Array.isArray(e.shape) || !e.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) throw err('shape is not a list of non-negative integers', 'e.g. [4096, 4096]', describe(e.shape), 'bad-shape');
  const off = e.data_offsets;
  if (!Array.isArray(off) || off.length !== 2 || !off.every((d) => Number.isSafeInteger(d) && d >= 0)) throw err('data_offsets is not a pair of non-negative integers', '[begin, end]', describe(off), 'bad-offsets');
  const [begin, end] = off as number[];
  if (begin > end || end > bufferSize) throw err('data_offsets lie outside the data buffer', `0 ≤ begin ≤ end ≤ ${bufferSize}`, `[${begin}, ${end}]`, 'offsets-out-of-range');
  const shape = e.shape as number[];
  let elements = 1;
  for (const d of shape) {
    elements *= d;
    if (!Number.isSafeInteger(elements)) throw err('shape has too many elements', `fewer than ${Number.MAX_SAFE_INTEGER}`, JSON.stringify(shape), 'bad-shape');
  }
  const byteLength = elements * dtypeSize(e.dtype);
  if (byteLength !== end - begin) throw err('byte length does not match shape × dtype size', `${byteLength} bytes (${JSON.stringify(shape)} × ${dtypeSize(e.dtype)})`, `${end - begin} bytes`, 'length-mismatch');
  for (const k of Object.keys(e)) {
    if (k !== 'dtype' && k !== 'shape' && k !== 'data_offsets') throw err('unknown field in tensor entry', 'only dtype, shape and data_offsets', `"${k}"`);
  }
  return { name, dtype: e.dtype, shape: [...shape], offset: dataStart + begin, byteLength };
}

function describe(v: unknown): string {
  if (v === undefined) return 'nothing';
  let s: string | undefined;
  try {
    s = JSON.stringify(v);
  } catch {
    // a deeply nested value (JSON.parse accepts any depth; JSON.stringify overflows the stack)
    return Array.isArray(v) ? 'a deeply nested array' : 'a deeply nested object';
  }
  return s === undefined ? typeof v : s.length > 80 ? `${s.slice(0, 77)}...` : s;
}

/** Index of the first byte that starts an invalid UTF-8 sequence, or -1. */
function firstInvalidUtf8(b: Uint8Array): number {
  for (let i = 0; i < b.length; ) {
    const c = b[i];
    if (c < 0x80) {
      i++;
      continue;
    }
    const n = c >= 0xc2 && c <= 0xdf ? 1 : c >= 0xe0 && c <= 0xef ? 2 : c >= 0xf0 && c <= 0xf4 ? 3 : 0;
    if (n === 0) return i;
    // the second byte's range excludes overlong forms, surrogates and code points past U+10FFFF
    const lo = c === 0xe0 ? 0xa0 : c === 0xf0 ? 0x90 : 0x80;
    const hi = c === 0xed ? 0x9f : c === 0xf4 ? 0x8f : 0xbf;
    if (i + n >= b.length || b[i + 1] < lo || b[i + 1] > hi) return i;
    for (let k = 2; k <= n; k++) if ((b[i + k] & 0xc0) !== 0x80) return i;
    i += n + 1;
  }
  return -1;
}

export function elementCount(shape: readonly number[]): number {
  return shape.reduce((a, b) => a * b, 1);
}
