/**
 * Fuzz tests for the safetensors header reader and the checkpoint loader: thousands of deterministic
 * mutations of valid files. Every mutant must either parse into a header whose tensors all lie inside
 * the file, or be rejected with a ChatvecError — never a TypeError/RangeError/other, never a read
 * outside the file or of an unvalidated size, never a hang.
 */
import { describe, expect, it } from 'vitest';
import { ChatvecError } from '../errors.ts';
import { DTYPE_SIZES, dtypeSize, isDtype, type Dtype } from '../dtype.ts';
import { INDEX_FILE, loadCheckpoint, type Checkpoint } from '../checkpoint.ts';
import type { ByteSource, FileTree } from '../sources/byte-source.ts';
import { buildSafetensorsHeader, type HeaderTensor } from './build-header.ts';
import { MAX_HEADER_BYTES, readSafetensorsHeader, type SafetensorsHeader } from './header.ts';

// ---------------------------------------------------------------------------------------------------
// Deterministic PRNG (mulberry32)

class Rng {
  private a: number;
  constructor(seed: number) {
    this.a = seed >>> 0;
  }
  next(): number {
    this.a = (this.a + 0x6d2b79f5) >>> 0;
    let t = this.a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  }
  int(n: number): number {
    return Math.floor(this.next() * n);
  }
  range(lo: number, hi: number): number {
    return lo + this.int(hi - lo + 1);
  }
  pick<T>(xs: readonly T[]): T {
    return xs[this.int(xs.length)];
  }
  chance(p: number): boolean {
    return this.next() < p;
  }
}

// ---------------------------------------------------------------------------------------------------
// Guarded byte sources: every read is checked before it is served

const READ_LIMIT = MAX_HEADER_BYTES + 8;

class GuardViolation extends Error {}

interface ReadStats {
  maxRead: number;
  violations: string[];
}

class GuardedSource implements ByteSource {
  readonly size: number;
  bytesRead = 0;
  closed = false;
  constructor(private readonly bytes: Uint8Array, readonly name: string, private readonly stats: ReadStats, private readonly onClose?: () => void) {
    this.size = bytes.length;
  }
  async read(offset: number, length: number, into?: Uint8Array): Promise<Uint8Array> {
    const bad =
      !Number.isSafeInteger(offset) || !Number.isSafeInteger(length) || offset < 0 || length < 0
        ? 'non-integer or negative'
        : offset + length > this.size
          ? 'past the end of the file'
          : length > READ_LIMIT
            ? `longer than ${READ_LIMIT} bytes`
            : this.closed
              ? 'after close'
              : null;
    if (bad) {
      const msg = `${this.name}: read(${offset}, ${length}) of a ${this.size}-byte file is ${bad}`;
      this.stats.violations.push(msg);
      throw new GuardViolation(msg);
    }
    this.stats.maxRead = Math.max(this.stats.maxRead, length);
    this.bytesRead += length;
    const out = this.bytes.slice(offset, offset + length);
    if (!into) return out;
    into.set(out);
    return into.subarray(0, length);
  }
  async close(): Promise<void> {
    if (!this.closed) {
      this.closed = true;
      this.onClose?.();
    }
  }
}

class GuardedTree implements FileTree {
  opened = 0;
  closed = 0;
  readonly sources: GuardedSource[] = [];
  constructor(readonly label: string, private readonly files: Map<string, Uint8Array>, private readonly stats: ReadStats) {}
  async list(): Promise<string[]> {
    return [...this.files.keys()].sort();
  }
  async open(path: string): Promise<ByteSource> {
    const b = this.files.get(path);
    if (!b) throw new GuardViolation(`${this.label}: open of "${path}", which is not in the folder`);
    this.opened++;
    const s = new GuardedSource(b, `${this.label}/${path}`, this.stats, () => this.closed++);
    this.sources.push(s);
    return s;
  }
}

// ---------------------------------------------------------------------------------------------------
// Building valid files

const enc = new TextEncoder();
const dec = new TextDecoder();
const DTYPES = Object.keys(DTYPE_SIZES) as Dtype[];

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

function lengthPrefix(len: number | bigint): Uint8Array {
  const b = new Uint8Array(8);
  new DataView(b.buffer).setBigUint64(0, BigInt(len), true);
  return b;
}

function filledBytes(n: number, seed: number): Uint8Array {
  const r = new Rng(seed);
  const b = new Uint8Array(n);
  for (let i = 0; i < n; i++) b[i] = r.int(256);
  return b;
}

interface BaseFile {
  name: string;
  file: Uint8Array;
  /** The JSON text (without padding). */
  json: string;
  data: Uint8Array;
}

function baseFromTensors(name: string, tensors: HeaderTensor[], metadata: Record<string, string>, seed: number): BaseFile {
  const built = buildSafetensorsHeader(tensors, metadata);
  const data = filledBytes(built.fileSize - built.bytes.length, seed);
  const json = dec.decode(built.bytes.subarray(8)).trimEnd();
  return { name, file: concat(built.bytes, data), json, data };
}

function baseFromJson(name: string, json: string, dataLen: number, seed: number): BaseFile {
  const h = enc.encode(json);
  const data = filledBytes(dataLen, seed);
  return { name, file: concat(lengthPrefix(h.length), h, data), json, data };
}

function baseFiles(): BaseFile[] {
  const many: HeaderTensor[] = [];
  const r = new Rng(7);
  for (let i = 0; i < 40; i++) {
    const rank = r.int(4);
    many.push({ name: `model.layers.${i}.w`, dtype: r.pick(DTYPES), shape: Array.from({ length: rank }, () => r.range(0, 5)) });
  }
  return [
    baseFromTensors('single.safetensors', [{ name: 'weight', dtype: 'F32', shape: [2, 3] }], { format: 'pt' }, 1),
    baseFromTensors(
      'mixed.safetensors',
      [
        { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [4, 8] },
        { name: 'a.bias', dtype: 'F16', shape: [8] },
        { name: 'b', dtype: 'I64', shape: [3] },
        { name: 'c', dtype: 'U8', shape: [5] },
        { name: 'd', dtype: 'BOOL', shape: [2, 2] },
        { name: 'scalar', dtype: 'F64', shape: [] },
        { name: 'empty', dtype: 'F32', shape: [0, 4] },
        { name: 'q', dtype: 'F8_E4M3', shape: [3, 3] },
      ],
      { format: 'pt', note: 'ünïcödé ✓ "quoted"' },
      2,
    ),
    baseFromTensors('many.safetensors', many, { format: 'pt', total: '40' }, 3),
    baseFromTensors('metadata-only.safetensors', [], { format: 'pt', a: '1', b: '' }, 4),
    baseFromTensors('unicode.safetensors', [{ name: 'wé✓ight.ß', dtype: 'I32', shape: [2] }, { name: 'τ', dtype: 'U16', shape: [1, 1, 3] }], {}, 5),
    // hand-written: no __metadata__, keys in reverse file order, a hole in the buffer
    baseFromJson('handmade.safetensors', '{"y":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}', 16, 6),
  ];
}

// ---------------------------------------------------------------------------------------------------
// Mutations

const NUMBER_LITERALS = ['1e308', '-1', '9007199254740992', '9007199254740993', '0.5', '-0', '1.0', '0', '1e-400', '1e309', '-1e308', '18446744073709551616', '4294967296', '100000001', '9'.repeat(400), '2.5e3', 'NaN', 'Infinity', '-Infinity', '0x10', '01', '+1', '.5', '1e', '-'];
const FRAGMENTS = [
  '{', '}', '[', ']', ',', ':', '"', 'null', 'true', 'false', '{"x":1}', '"__metadata__"', '"__proto__":{}', '[[[[[[', ']]]]', '\\u0000', '"\\ud800"', '\\', '"a":', ',,', '{}', '[]',
  '"dtype":"F32"', '"shape":[1]', '"data_offsets":[0,4]', '"extra":1', ' ', '\n', '\t', '/*c*/', '\u00a0', '\ufeff', '💥',
];
const DTYPE_STRINGS = [...DTYPES, 'F33', '', 'f32', 'float32', 'F32 ', '__proto__', 'toString', 'constructor', 'hasOwnProperty', 'I4', 'C64', 'F8_E8M0'];
const SPECIAL_NAMES = ['__proto__', '__metadata__', 'constructor', 'toString', '', 'hasOwnProperty', 'weight', 'a.bias', 'x'];
/** Placeholder value replaced by a deeply nested array after JSON.stringify (which could not write one). */
const DEEP = '@@DEEP@@';
const DEEP_JSON = JSON.stringify(DEEP);

function deepArray(n: number): string {
  return '['.repeat(n) + ']'.repeat(n);
}

function replaceAt(s: string, start: number, len: number, ins: string): string {
  return s.slice(0, start) + ins + s.slice(start + len);
}

function matchesOf(s: string, re: RegExp): RegExpExecArray[] {
  return [...s.matchAll(new RegExp(re.source, 'g'))];
}

/** One textual mutation of JSON text; returns a description. */
function mutateText(s: string, r: Rng): [string, string] {
  const op = r.int(12);
  switch (op) {
    case 11: {
      const whole = r.pick(['[]', 'null', '1', '"x"', 'true', `[${s}]`, `{"a":${s}}`, `${s}${s}`, '']);
      return [whole, `whole→${whole.slice(0, 8)}`];
    }
    case 0: {
      const ms = matchesOf(s, /-?\d+(\.\d+)?([eE][+-]?\d+)?/);
      if (!ms.length) break;
      const m = r.pick(ms);
      const lit = r.chance(0.2) ? String(r.range(-3, 1 << 20)) : r.pick(NUMBER_LITERALS);
      return [replaceAt(s, m.index!, m[0].length, lit), `number ${m[0]}→${lit.slice(0, 20)}`];
    }
    case 1: {
      const at = r.int(s.length + 1);
      const frag = r.chance(0.05) ? deepArray(r.pick([100, 5000, 50000])) : r.pick(FRAGMENTS);
      return [replaceAt(s, at, 0, frag), `splice@${at} ${frag.slice(0, 12)}`];
    }
    case 2: {
      const at = r.int(s.length);
      const len = r.range(1, 12);
      return [replaceAt(s, at, len, ''), `delete@${at}+${len}`];
    }
    case 3: {
      const at = r.int(s.length);
      const len = r.range(1, 40);
      const to = r.int(s.length + 1);
      return [replaceAt(s, to, 0, s.slice(at, at + len)), `dupspan@${at}+${len}→${to}`];
    }
    case 4: {
      // duplicate a whole tensor entry (duplicate key), maybe with a changed number in the copy
      const ms = matchesOf(s, /"[^"\\]*":\{"dtype"[^{}]*\}/);
      if (!ms.length) break;
      const m = r.pick(ms);
      let copy = m[0];
      if (r.chance(0.6)) copy = mutateText(copy, r)[0];
      const before = r.chance(0.5);
      const at = before ? m.index! : m.index! + m[0].length;
      return [replaceAt(s, at, 0, before ? `${copy},` : `,${copy}`), `dupkey ${before ? 'before' : 'after'}`];
    }
    case 5: {
      // duplicate a field inside an entry
      const ms = matchesOf(s, /"(dtype|shape|data_offsets)":("[^"]*"|\[[^\]]*\])/);
      if (!ms.length) break;
      const m = r.pick(ms);
      const other = m[1] === 'dtype' ? `"${r.pick(DTYPE_STRINGS)}"` : `[${r.range(0, 9)},${r.range(0, 99)}]`;
      return [replaceAt(s, m.index! + m[0].length, 0, `,"${m[1]}":${other}`), `dupfield ${m[1]}`];
    }
    case 6: {
      const ms = matchesOf(s, /"dtype":"[^"]*"/);
      if (!ms.length) break;
      const m = r.pick(ms);
      const d = r.pick(DTYPE_STRINGS);
      return [replaceAt(s, m.index!, m[0].length, `"dtype":"${d}"`), `dtype→${d}`];
    }
    case 7: {
      const ms = matchesOf(s, /"[^"\\]*":/);
      if (!ms.length) break;
      const m = r.pick(ms);
      const n = r.pick(SPECIAL_NAMES);
      return [replaceAt(s, m.index!, m[0].length, `"${n}":`), `rename ${m[0]}→${n}`];
    }
    case 8: {
      const at = r.int(s.length);
      const c = String.fromCharCode(r.chance(0.7) ? r.range(0x20, 0x7e) : r.range(0, 0xffff));
      return [replaceAt(s, at, 1, c), `char@${at}`];
    }
    case 9: {
      const a = r.int(s.length), b = r.int(s.length);
      const arr = [...s];
      if (a < arr.length && b < arr.length) [arr[a], arr[b]] = [arr[b], arr[a]];
      return [arr.join(''), `swap ${a},${b}`];
    }
    case 10: {
      const cut = r.int(s.length);
      return [s.slice(0, cut), `truncjson@${cut}`];
    }
  }
  return [s, 'noop'];
}

function jsonEntries(obj: Record<string, unknown>): string[] {
  return Object.keys(obj).filter((k) => k !== '__metadata__');
}

const SHAPES: unknown[] = [[], [0], [-1], [1.5], [2 ** 53], [1e308], ['2'], null, 5, {}, [[2]], [2 ** 26, 2 ** 26, 2 ** 26], [2 ** 20, 2 ** 20, 0], [0, 2 ** 60], [3, 4], [true], DEEP];
const OFFSETS: unknown[] = [[], [0], [0, 0, 0], [-1, 3], [5, 2], [0, 1e308], [0.5, 4], null, ['0', '4'], [0, 2 ** 53], [2 ** 53, 2 ** 53], {}, 'x', [null, 4], DEEP];

/** One structural mutation of a parsed header object; returns a description. */
function mutateObject(obj: Record<string, unknown>, r: Rng, bufferSize: number): string {
  const names = jsonEntries(obj);
  const name = names.length ? r.pick(names) : null;
  const entry = name && typeof obj[name] === 'object' && obj[name] !== null && !Array.isArray(obj[name]) ? (obj[name] as Record<string, unknown>) : null;
  const op = r.int(12);
  switch (op) {
    case 0:
      if (!entry) break;
      entry.shape = r.chance(0.3) ? Array.from({ length: r.int(4) }, () => r.range(0, 6)) : r.pick(SHAPES);
      return `shape ${name}`;
    case 1: {
      if (!entry) break;
      const off = entry.data_offsets as number[];
      const b = Array.isArray(off) ? Number(off[0]) : 0, e = Array.isArray(off) ? Number(off[1]) : 0;
      const k = r.range(1, 8);
      entry.data_offsets = r.pick([...OFFSETS, [b, e + 1], [b + k, e + k], [b - k, e - k], [b, bufferSize + k], [bufferSize, bufferSize], [0, bufferSize], [e, b]]);
      return `offsets ${name}`;
    }
    case 2:
      if (!entry) break;
      entry.dtype = r.pick(DTYPE_STRINGS);
      return `dtype ${name}`;
    case 3:
      if (!entry) break;
      delete entry[r.pick(['dtype', 'shape', 'data_offsets'])];
      return `delfield ${name}`;
    case 4:
      if (!entry) break;
      entry[r.pick(['extra', 'offset', 'Dtype', '__proto__x'])] = r.pick([1, null, 'x', []]);
      return `addfield ${name}`;
    case 5:
      if (!name) break;
      obj[name] = r.pick([null, 1, 'x', [], [1, 2], true, DEEP]);
      return `entry ${name} not an object`;
    case 6: {
      // make two tensors overlap
      if (names.length < 2) break;
      const a = obj[r.pick(names)] as Record<string, unknown>, b = obj[r.pick(names)] as Record<string, unknown>;
      if (!a || !b || typeof a !== 'object' || typeof b !== 'object') break;
      const ob = b.data_offsets as number[];
      if (!Array.isArray(ob)) break;
      const shift = r.int(Math.max(1, ob[1] - ob[0]));
      a.data_offsets = [ob[0] + shift, ob[0] + shift + ((a.data_offsets as number[])?.[1] - (a.data_offsets as number[])?.[0] || 0)];
      return 'overlap';
    }
    case 7: {
      const v = r.pick<unknown>([null, [], 'pt', 1, { format: 1 }, { format: null }, { format: {} }, { a: ['x'] }, DEEP, { k: DEEP }]);
      obj.__metadata__ = v;
      return 'metadata';
    }
    case 8:
      if (r.chance(0.5)) delete obj.__metadata__;
      else {
        if (typeof obj.__metadata__ !== 'object' || obj.__metadata__ === null) obj.__metadata__ = {};
        Object.defineProperty(obj.__metadata__, '__proto__', { value: 'x', enumerable: true, configurable: true, writable: true });
      }
      return 'metadata del/proto';
    case 9: {
      if (!name) break;
      const to = r.pick(SPECIAL_NAMES);
      const v = obj[name];
      delete obj[name];
      Object.defineProperty(obj, to, { value: v, enumerable: true, configurable: true, writable: true });
      return `rename ${name}→${to}`;
    }
    case 10: {
      // add a tensor, valid-looking or not
      const dtype = r.pick(DTYPES);
      const shape = Array.from({ length: r.int(3) }, () => r.range(0, 4));
      const len = shape.reduce((a, b) => a * b, 1) * dtypeSize(dtype);
      const begin = r.pick([bufferSize, bufferSize - len, 0, r.int(bufferSize + 1)]);
      obj[`added.${r.int(1000)}`] = { dtype, shape, data_offsets: [begin, begin + len] };
      return 'add tensor';
    }
    case 11: {
      // swap the offsets of two tensors
      if (names.length < 2) break;
      const a = obj[r.pick(names)] as Record<string, unknown>, b = obj[r.pick(names)] as Record<string, unknown>;
      if (!a || !b || typeof a !== 'object' || typeof b !== 'object') break;
      [a.data_offsets, b.data_offsets] = [b.data_offsets, a.data_offsets];
      return 'swap offsets';
    }
  }
  return 'noop';
}

function stringifyWithDeep(obj: unknown, r: Rng): string {
  const s = JSON.stringify(obj);
  return s.includes(DEEP_JSON) ? s.split(DEEP_JSON).join(deepArray(r.pick([10, 3000, 100_000]))) : s;
}

/** Put a (mutated) JSON header and data together, usually with a consistent length prefix. */
function assemble(json: Uint8Array, data: Uint8Array, r: Rng, ops: string[]): Uint8Array {
  let header = json;
  const mode = r.int(10);
  if (mode === 0) {
    const pad = r.range(1, 16);
    header = concat(json, new Uint8Array(pad).fill(0x20));
    ops.push(`pad ${pad}`);
  }
  let len: number | bigint = header.length;
  if (mode === 1) {
    len = r.pick([0, header.length - 1, header.length + 1, header.length + data.length, header.length + data.length + 1, r.int(header.length * 2 + 8)]);
    ops.push(`len ${len}`);
  }
  let d = data;
  if (r.chance(0.15)) {
    const n = r.chance(0.5) ? r.int(data.length + 1) : data.length + r.range(1, 64);
    d = n <= data.length ? data.subarray(0, n) : concat(data, new Uint8Array(n - data.length));
    ops.push(`data ${data.length}→${n}`);
  }
  return concat(lengthPrefix(len), header, d);
}

const SPECIAL_LENGTHS: bigint[] = [0n, 1n, 7n, 8n, BigInt(MAX_HEADER_BYTES), BigInt(MAX_HEADER_BYTES + 1), 2n ** 32n, 2n ** 32n + 16n, 2n ** 53n, 2n ** 53n + 1n, 2n ** 63n, 2n ** 64n - 1n];

/** Byte-level mutations of a whole file. */
function mutateBytes(file: Uint8Array, r: Rng, ops: string[]): Uint8Array {
  let b = file.slice();
  const headerEnd = b.length >= 8 ? Math.min(b.length, 8 + new DataView(b.buffer).getUint32(0, true)) : b.length;
  const n = r.range(1, 4);
  for (let i = 0; i < n; i++) {
    const op = r.int(9);
    const inLen = r.chance(0.35);
    const pos = inLen ? r.int(8) : r.int(Math.max(1, headerEnd));
    switch (op) {
      case 0:
        if (pos < b.length) b[pos] ^= 1 << r.int(8);
        ops.push(`flip@${pos}`);
        break;
      case 1:
        if (pos < b.length) b[pos] = r.int(256);
        ops.push(`byte@${pos}`);
        break;
      case 2: {
        if (b.length < 8) break;
        const v = r.chance(0.5) ? r.pick(SPECIAL_LENGTHS) : BigInt(b.length - 8 + r.range(-3, 3));
        const nv = v < 0n ? 0n : v;
        new DataView(b.buffer).setBigUint64(0, nv, true);
        ops.push(`setlen ${nv}`);
        break;
      }
      case 3: {
        const cut = r.chance(0.3) ? r.int(9) : r.int(b.length + 1);
        b = b.slice(0, cut);
        ops.push(`truncate@${cut}`);
        break;
      }
      case 4: {
        const extra = filledBytes(r.range(1, 64), r.int(1 << 30));
        b = concat(b, extra);
        ops.push(`extend+${extra.length}`);
        break;
      }
      case 5: {
        // invalid or multi-byte UTF-8 in the header, length unchanged
        const seqs = [[0xff], [0xc0, 0x80], [0xe2, 0x82], [0xed, 0xa0, 0x80], [0xf4, 0x90, 0x80, 0x80], [0x80], [0xc3, 0xa9], [0xf0, 0x9f, 0x92, 0xa5]];
        const seq = r.pick(seqs);
        const at = 8 + r.int(Math.max(1, headerEnd - 8));
        for (let k = 0; k < seq.length && at + k < b.length; k++) b[at + k] = seq[k];
        ops.push(`utf8@${at}`);
        break;
      }
      case 6: {
        // insert bytes in the header region (shifts everything; length not updated)
        const at = Math.min(b.length, 8 + r.int(Math.max(1, headerEnd - 8)));
        b = concat(b.subarray(0, at), enc.encode(r.pick(FRAGMENTS)), b.subarray(at));
        ops.push(`insert@${at}`);
        break;
      }
      case 7: {
        const at = r.int(b.length + 1), len = r.range(1, 16);
        b = concat(b.subarray(0, at), b.subarray(at + len));
        ops.push(`cut@${at}+${len}`);
        break;
      }
      case 8: {
        if (b.length < 8) break;
        b[r.int(8)] = 0xff;
        ops.push('len byte 0xff');
        break;
      }
    }
  }
  return b;
}

interface Mutant {
  bytes: Uint8Array;
  ops: string[];
}

function mutateFile(base: BaseFile, r: Rng): Mutant {
  const ops: string[] = [];
  const kind = r.int(10);
  if (kind < 3) {
    ops.push('bytes');
    return { bytes: mutateBytes(base.file, r, ops), ops };
  }
  if (kind < 7) {
    ops.push('text');
    let s = base.json;
    const n = r.range(1, 3);
    for (let i = 0; i < n; i++) {
      const [t, d] = mutateText(s, r);
      s = t;
      ops.push(d);
    }
    let bytes = assemble(enc.encode(s), base.data, r, ops);
    if (r.chance(0.1)) bytes = mutateBytes(bytes, r, ops);
    return { bytes, ops };
  }
  ops.push('struct');
  const obj = JSON.parse(base.json) as Record<string, unknown>;
  const n = r.range(1, 3);
  for (let i = 0; i < n; i++) ops.push(mutateObject(obj, r, base.data.length));
  let s = stringifyWithDeep(obj, r);
  if (r.chance(0.15)) {
    const [t, d] = mutateText(s, r);
    s = t;
    ops.push(d);
  }
  return { bytes: assemble(enc.encode(s), base.data, r, ops), ops };
}

// ---------------------------------------------------------------------------------------------------
// Properties

function elementsOf(shape: number[]): number {
  let n = 1;
  for (const d of shape) n *= d;
  return n;
}

/** Problems with a header the reader accepted (empty when it is sound). */
function headerProblems(h: SafetensorsHeader, name: string, bytes: Uint8Array): string[] {
  const p: string[] = [];
  const size = bytes.length;
  const declared = size >= 8 ? new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true) : -1n;
  if (h.file !== name) p.push(`file ${h.file}`);
  if (h.fileSize !== size) p.push(`fileSize ${h.fileSize} ≠ ${size}`);
  if (BigInt(h.headerLength) !== declared) p.push(`headerLength ${h.headerLength} ≠ declared ${declared}`);
  if (h.dataStart !== 8 + h.headerLength) p.push(`dataStart ${h.dataStart}`);
  if (h.dataStart > size) p.push(`dataStart ${h.dataStart} past the end`);
  for (const [k, v] of Object.entries(h.metadata)) if (typeof v !== 'string') p.push(`metadata ${k} is ${typeof v}`);
  const seen = new Set<string>();
  for (const t of h.tensors) {
    const where = `tensor "${t.name}"`;
    if (seen.has(t.name)) p.push(`${where} listed twice`);
    seen.add(t.name);
    if (t.name === '__metadata__') p.push('__metadata__ taken as a tensor');
    if (!isDtype(t.dtype)) p.push(`${where} dtype ${String(t.dtype)}`);
    if (!Array.isArray(t.shape) || !t.shape.every((d) => Number.isSafeInteger(d) && d >= 0)) {
      p.push(`${where} shape ${JSON.stringify(t.shape)}`);
      continue;
    }
    const el = elementsOf(t.shape);
    if (!Number.isSafeInteger(el)) p.push(`${where} element count ${el}`);
    if (!Number.isSafeInteger(t.offset) || !Number.isSafeInteger(t.byteLength)) p.push(`${where} offset/length not integers`);
    if (isDtype(t.dtype) && t.byteLength !== el * dtypeSize(t.dtype)) p.push(`${where} byteLength ${t.byteLength} ≠ ${el} × ${dtypeSize(t.dtype)}`);
    if (t.offset < h.dataStart) p.push(`${where} offset ${t.offset} before the data (${h.dataStart})`);
    if (t.offset + t.byteLength > size) p.push(`${where} ends at ${t.offset + t.byteLength}, past the end (${size})`);
  }
  const sorted = h.tensors.filter((t) => t.byteLength > 0).sort((a, b) => a.offset - b.offset);
  let end = -1, endName = '';
  for (const t of sorted) {
    if (t.offset < end) p.push(`tensor "${t.name}" overlaps "${endName}"`);
    if (t.offset + t.byteLength > end) [end, endName] = [t.offset + t.byteLength, t.name];
  }
  // cross-check against an independent parse of the same bytes
  try {
    const obj = JSON.parse(dec.decode(bytes.subarray(8, 8 + h.headerLength))) as Record<string, unknown>;
    const keys = Object.keys(obj).filter((k) => k !== '__metadata__');
    if (keys.length !== h.tensors.length) p.push(`${h.tensors.length} tensors but ${keys.length} entries`);
  } catch (e) {
    p.push(`accepted a header that JSON.parse rejects: ${(e as Error).message}`);
  }
  return p;
}

/** The offset a header-not-utf8 error names must be exactly where the first invalid sequence starts. */
function utf8Problems(e: ChatvecError, bytes: Uint8Array): string[] {
  const m = /^byte 0x([0-9a-f]{2}) at file offset (\d+)$/.exec(e.details.found ?? '');
  if (!m) return [`header-not-utf8 does not locate the bad byte: ${e.details.found}`];
  const off = Number(m[2]);
  if (bytes[off] !== parseInt(m[1], 16)) return [`header-not-utf8 names byte 0x${m[1]} at ${off}, the file has 0x${bytes[off]?.toString(16)}`];
  const fatal = new TextDecoder('utf-8', { fatal: true });
  const decodes = (b: Uint8Array) => {
    try {
      fatal.decode(b);
      return true;
    } catch {
      return false;
    }
  };
  const headerEnd = 8 + Number(new DataView(bytes.buffer, bytes.byteOffset, 8).getBigUint64(0, true));
  const p: string[] = [];
  if (off < 8 || off >= headerEnd) p.push(`header-not-utf8 at ${off}, outside the header (8..${headerEnd})`);
  if (!decodes(bytes.subarray(8, off))) p.push(`header-not-utf8 at ${off}, but an earlier byte is already invalid`);
  // no character (1 to 4 bytes, ending inside the header) starts there
  if ([1, 2, 3, 4].some((len) => off + len <= headerEnd && decodes(bytes.subarray(off, off + len)))) p.push(`header-not-utf8 at ${off}, but a valid character starts there`);
  return p;
}

function describeError(e: unknown): string {
  return e instanceof Error ? `${e.constructor.name}: ${e.message.slice(0, 300)}` : `non-error thrown: ${String(e)}`;
}

const KNOWN_HEADER_CODES = new Set(['file-too-short', 'header-too-large', 'header-past-eof', 'header-not-utf8', 'header-not-json', 'header-not-object', 'bad-metadata', 'bad-tensor-entry', 'bad-dtype', 'bad-shape', 'bad-offsets', 'offsets-out-of-range', 'length-mismatch', 'tensor-overlap']);
const PER_CALL_MS = 2_000;

interface FuzzReport {
  mutants: number;
  accepted: number;
  codes: Map<string, number>;
  failures: string[];
  maxRead: number;
  maxCallMs: number;
  totalMs: number;
}

function tally(rep: FuzzReport, key: string) {
  rep.codes.set(key, (rep.codes.get(key) ?? 0) + 1);
}

function fail(rep: FuzzReport, msg: string) {
  if (rep.failures.length < 25) rep.failures.push(msg);
}

describe('safetensors header fuzz', () => {
  it('survives 6,000 mutations of valid files: a sound header or a ChatvecError, bounded reads, no hangs', async () => {
    const bases = baseFiles();
    // every base file is valid to begin with
    for (const b of bases) {
      const stats: ReadStats = { maxRead: 0, violations: [] };
      const h = await readSafetensorsHeader(new GuardedSource(b.file, b.name, stats));
      expect(headerProblems(h, b.name, b.file)).toEqual([]);
    }
    const r = new Rng(Number(process.env.FUZZ_SEED ?? 0xc0ffee));
    const stats: ReadStats = { maxRead: 0, violations: [] };
    const rep: FuzzReport = { mutants: 0, accepted: 0, codes: new Map(), failures: [], maxRead: 0, maxCallMs: 0, totalMs: 0 };
    const N = 6_000;
    let maxSize = 0;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const base = bases[i % bases.length];
      const m = mutateFile(base, r);
      maxSize = Math.max(maxSize, m.bytes.length);
      const ctx = `#${i} ${base.name} [${m.ops.join('; ')}]`;
      const src = new GuardedSource(m.bytes, base.name, stats);
      const c0 = performance.now();
      try {
        const h = await readSafetensorsHeader(src);
        rep.accepted++;
        tally(rep, 'accepted');
        for (const p of headerProblems(h, base.name, m.bytes)) fail(rep, `${ctx}: ${p}`);
      } catch (e) {
        if (!(e instanceof ChatvecError)) fail(rep, `${ctx}: threw ${describeError(e)}`);
        else {
          tally(rep, e.code);
          if (!KNOWN_HEADER_CODES.has(e.code)) fail(rep, `${ctx}: unknown code ${e.code}`);
          if (!e.message.startsWith(`${base.name}: `) && !e.message.startsWith(`${base.name}, tensor "`)) fail(rep, `${ctx}: message does not name the file: ${e.message.slice(0, 200)}`);
          if (e.code === 'header-not-utf8') for (const p of utf8Problems(e, m.bytes)) fail(rep, `${ctx}: ${p}`);
        }
      }
      const ms = performance.now() - c0;
      rep.maxCallMs = Math.max(rep.maxCallMs, ms);
      if (ms > PER_CALL_MS) fail(rep, `${ctx}: took ${ms.toFixed(0)} ms`);
      if (src.bytesRead > m.bytes.length) fail(rep, `${ctx}: read ${src.bytesRead} bytes of a ${m.bytes.length}-byte file`);
      rep.mutants++;
    }
    rep.totalMs = performance.now() - t0;
    rep.maxRead = stats.maxRead;
    if (process.env.FUZZ_REPORT) console.log({ ...rep, codes: Object.fromEntries(rep.codes), maxSize });

    expect(stats.violations).toEqual([]);
    expect(rep.failures).toEqual([]);
    expect(rep.mutants).toBe(N);
    expect(rep.maxRead).toBeLessThanOrEqual(READ_LIMIT);
    expect(rep.maxRead).toBeLessThanOrEqual(maxSize);
    expect(rep.totalMs).toBeLessThan(20_000);
    // the fuzz reaches both outcomes and most of the validation paths
    expect(rep.accepted).toBeGreaterThan(N * 0.05);
    expect(rep.accepted).toBeLessThan(N * 0.8);
    for (const code of KNOWN_HEADER_CODES) expect.soft(rep.codes.get(code) ?? 0, `mutants rejected with ${code}`).toBeGreaterThan(0);
  }, 30_000);
});

// ---------------------------------------------------------------------------------------------------
// Checkpoint fuzz: mutated index JSON (and sometimes a mutated shard or config)

interface CkBase {
  files: Map<string, Uint8Array>;
  index: Record<string, unknown>;
  indexJson: string;
  shardBases: BaseFile[];
}

function checkpointBase(): CkBase {
  const s1 = baseFromTensors('model-00001-of-00003.safetensors', [
    { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [8, 4] },
    { name: 'model.layers.0.self_attn.q_proj.weight', dtype: 'BF16', shape: [4, 4] },
  ], { format: 'pt' }, 11);
  const s2 = baseFromTensors('model-00002-of-00003.safetensors', [
    { name: 'model.layers.0.mlp.up_proj.weight', dtype: 'F16', shape: [4, 8] },
    { name: 'model.layers.0.input_layernorm.weight', dtype: 'F32', shape: [4] },
    { name: 'model.layers.0.zero', dtype: 'F32', shape: [0] },
  ], { format: 'pt' }, 12);
  const s3 = baseFromTensors('model-00003-of-00003.safetensors', [
    { name: 'model.norm.weight', dtype: 'F32', shape: [4] },
    { name: 'lm_head.weight', dtype: 'BF16', shape: [8, 4] },
  ], { format: 'pt' }, 13);
  // a stale single-file checkpoint in the same folder; the index does not point at it
  const stale = baseFromTensors('model.safetensors', [{ name: 'model.norm.weight', dtype: 'F32', shape: [4] }], { format: 'pt' }, 14);
  const weight_map: Record<string, string> = {};
  let total = 0;
  for (const s of [s1, s2, s3]) {
    const obj = JSON.parse(s.json) as Record<string, { data_offsets: number[] }>;
    for (const k of jsonEntries(obj)) {
      weight_map[k] = s.name;
      total += obj[k].data_offsets[1] - obj[k].data_offsets[0];
    }
  }
  const index = { metadata: { total_size: total }, weight_map };
  const indexJson = JSON.stringify(index, null, 2);
  const files = new Map<string, Uint8Array>([
    ['config.json', enc.encode('{"architectures":["LlamaForCausalLM"],"hidden_size":4}')],
    ['tokenizer_config.json', enc.encode('{"chat_template":"{{ messages }}"}')],
    [INDEX_FILE, enc.encode(indexJson)],
    ...[s1, s2, s3, stale].map((s) => [s.name, s.file] as [string, Uint8Array]),
  ]);
  return { files, index, indexJson, shardBases: [s1, s2, s3] };
}

const SHARD_VALUES: unknown[] = ['model-00004-of-00003.safetensors', 'model.safetensors', 'config.json', INDEX_FILE, '', '../model-00001-of-00003.safetensors', 'model-00001-of-00003.safetensors', 'model-00002-of-00003.safetensors', 'MODEL-00001-of-00003.safetensors', 1, null, [], {}, true];

function mutateIndexObject(index: Record<string, unknown>, r: Rng): string {
  const wm = index.weight_map as Record<string, unknown>;
  const isMap = typeof wm === 'object' && wm !== null && !Array.isArray(wm);
  const keys = isMap ? Object.keys(wm) : [];
  const op = r.int(9);
  switch (op) {
    case 0:
    case 1:
      if (!keys.length) break;
      {
        const k = r.pick(keys);
        wm[k] = r.pick(SHARD_VALUES);
        return `wm[${k}]→${JSON.stringify(wm[k])}`;
      }
    case 2:
      if (!keys.length) break;
      {
        const k = r.pick(keys);
        delete wm[k];
        return `delete wm[${k}]`;
      }
    case 3:
      if (!isMap) break;
      {
        const k = r.pick([...SPECIAL_NAMES, 'model.layers.9.w', 'lm_head.weight']);
        Object.defineProperty(wm, k, { value: r.pick(SHARD_VALUES.slice(0, 8)), enumerable: true, configurable: true, writable: true });
        return `add wm[${k}]`;
      }
    case 4:
      if (!keys.length) break;
      {
        const k = r.pick(keys);
        const to = r.pick(SPECIAL_NAMES);
        const v = wm[k];
        delete wm[k];
        Object.defineProperty(wm, to, { value: v, enumerable: true, configurable: true, writable: true });
        return `rename wm[${k}]→${to}`;
      }
    case 5:
      index.weight_map = r.pick<unknown>([null, [], 'x', 1, {}, DEEP, [['a', 'b']], { a: DEEP }]);
      return `weight_map→${index.weight_map === DEEP ? 'deep' : JSON.stringify(index.weight_map).slice(0, 20)}`;
    case 6:
      delete index.weight_map;
      return 'delete weight_map';
    case 7:
      index.metadata = r.pick<unknown>([null, 'x', { total_size: -1 }, { total_size: 1e308 }, DEEP]);
      return 'index metadata';
    case 8:
      // move every tensor of one shard to another shard
      if (!keys.length) break;
      {
        const from = r.pick(SHARD_VALUES.slice(6, 8)), to = r.pick(SHARD_VALUES.slice(0, 8));
        for (const k of keys) if (wm[k] === from) wm[k] = to;
        return `move ${from}→${to}`;
      }
  }
  return 'noop';
}

interface CkMutant {
  files: Map<string, Uint8Array>;
  ops: string[];
}

function mutateCheckpoint(base: CkBase, r: Rng): CkMutant {
  const files = new Map(base.files);
  const ops: string[] = [];
  let s: string;
  if (r.chance(0.5)) {
    const idx = structuredClone(base.index);
    const n = r.range(1, 3);
    for (let i = 0; i < n; i++) ops.push(mutateIndexObject(idx, r));
    s = JSON.stringify(idx, null, r.chance(0.5) ? 2 : undefined);
    if (s.includes(DEEP_JSON)) s = s.split(DEEP_JSON).join(deepArray(r.pick([10, 100_000])));
  } else {
    s = base.indexJson;
    const n = r.range(1, 3);
    for (let i = 0; i < n; i++) {
      const [t, d] = mutateText(s, r);
      s = t;
      ops.push(d);
    }
  }
  let idxBytes = enc.encode(s);
  if (r.chance(0.05)) {
    idxBytes = concat(idxBytes, new Uint8Array([0xff, 0xfe]));
    ops.push('index not utf-8');
  }
  if (r.chance(0.03)) {
    files.delete(INDEX_FILE);
    ops.push('no index');
  } else files.set(INDEX_FILE, idxBytes);
  if (r.chance(0.15)) {
    const sb = r.pick(base.shardBases);
    const m = mutateFile(sb, r);
    files.set(sb.name, m.bytes);
    ops.push(`shard ${sb.name}: ${m.ops.join(', ')}`);
  }
  if (r.chance(0.05)) {
    files.set('config.json', enc.encode(r.pick(['{', '[]', 'null', '1', '"x"', '', '{"a":1}{'])));
    ops.push('config');
  }
  if (r.chance(0.03)) {
    files.delete(r.pick(base.shardBases).name);
    ops.push('delete shard');
  }
  return { files, ops };
}

function checkpointProblems(ck: Checkpoint, tree: GuardedTree, files: Map<string, Uint8Array>): string[] {
  const p: string[] = [];
  let total = 0;
  const headers = new Map(ck.shards.map((h) => [h.file, h]));
  for (const [name, t] of ck.tensors) {
    const where = `tensor "${name}"`;
    if (t.name !== name) p.push(`${where} stored as ${t.name}`);
    const bytes = files.get(t.file);
    if (!bytes) {
      p.push(`${where} in ${t.file}, which is not in the folder`);
      continue;
    }
    if (t.source.size !== bytes.length || t.source.name !== `${tree.label}/${t.file}`) p.push(`${where} source is not ${t.file}`);
    if (!tree.sources.includes(t.source as GuardedSource)) p.push(`${where} source not opened through the tree`);
    const h = headers.get(t.source.name);
    if (!h) p.push(`${where} has no shard header`);
    else if (t.offset < h.dataStart) p.push(`${where} starts before the data`);
    if (t.offset + t.byteLength > bytes.length) p.push(`${where} ends past ${t.file}`);
    if (!isDtype(t.dtype) || t.byteLength !== elementsOf(t.shape) * dtypeSize(t.dtype)) p.push(`${where} byteLength ${t.byteLength}`);
    total += t.byteLength;
  }
  if (total !== ck.totalTensorBytes) p.push(`totalTensorBytes ${ck.totalTensorBytes} ≠ ${total}`);
  const idx = files.get(INDEX_FILE);
  if (idx) {
    const wm = (JSON.parse(dec.decode(idx)) as { weight_map: Record<string, string> }).weight_map;
    const keys = Object.keys(wm).sort();
    const got = [...ck.tensors.keys()].sort();
    if (JSON.stringify(keys) !== JSON.stringify(got)) p.push(`loaded ${got.length} tensors, the index names ${keys.length}`);
    for (const k of keys) if (ck.tensors.get(k)?.file !== wm[k]) p.push(`tensor "${k}" loaded from ${ck.tensors.get(k)?.file}, the index says ${wm[k]}`);
  }
  return p;
}

const KNOWN_CHECKPOINT_CODES = new Set([...KNOWN_HEADER_CODES, 'bad-json', 'bad-index', 'missing-shard', 'tensor-not-in-shard', 'duplicate-tensor', 'no-weights', 'side-file-too-large']);

describe('checkpoint fuzz', () => {
  it('survives 1,000 mutations of the index (and some of shards and config): a sound checkpoint or a ChatvecError', async () => {
    const base = checkpointBase();
    {
      const stats: ReadStats = { maxRead: 0, violations: [] };
      const tree = new GuardedTree('ck', base.files, stats);
      const ck = await loadCheckpoint(tree);
      expect(checkpointProblems(ck, tree, base.files)).toEqual([]);
      expect(ck.tensors.size).toBe(7);
      await ck.close();
      expect(tree.closed).toBe(tree.opened);
    }
    const r = new Rng(Number(process.env.FUZZ_SEED ?? 0x5eed));
    const stats: ReadStats = { maxRead: 0, violations: [] };
    const rep: FuzzReport = { mutants: 0, accepted: 0, codes: new Map(), failures: [], maxRead: 0, maxCallMs: 0, totalMs: 0 };
    const N = 1_000;
    const t0 = performance.now();
    for (let i = 0; i < N; i++) {
      const m = mutateCheckpoint(base, r);
      const ctx = `#${i} [${m.ops.join('; ')}]`;
      const tree = new GuardedTree('ck', m.files, stats);
      const c0 = performance.now();
      try {
        const ck = await loadCheckpoint(tree);
        rep.accepted++;
        tally(rep, 'accepted');
        for (const p of checkpointProblems(ck, tree, m.files)) fail(rep, `${ctx}: ${p}`);
        await ck.close();
      } catch (e) {
        if (!(e instanceof ChatvecError)) fail(rep, `${ctx}: threw ${describeError(e)}`);
        else {
          tally(rep, e.code);
          if (!KNOWN_CHECKPOINT_CODES.has(e.code)) fail(rep, `${ctx}: unknown code ${e.code}`);
          if (!e.message.startsWith('ck')) fail(rep, `${ctx}: message does not name the file: ${e.message.slice(0, 200)}`);
        }
      }
      const ms = performance.now() - c0;
      rep.maxCallMs = Math.max(rep.maxCallMs, ms);
      if (ms > PER_CALL_MS) fail(rep, `${ctx}: took ${ms.toFixed(0)} ms`);
      if (tree.closed !== tree.opened) fail(rep, `${ctx}: opened ${tree.opened} files, closed ${tree.closed}`);
      rep.mutants++;
    }
    rep.totalMs = performance.now() - t0;
    rep.maxRead = stats.maxRead;
    if (process.env.FUZZ_REPORT) console.log({ ...rep, codes: Object.fromEntries(rep.codes) });

    expect(stats.violations).toEqual([]);
    expect(rep.failures).toEqual([]);
    expect(rep.mutants).toBe(N);
    expect(stats.maxRead).toBeLessThanOrEqual(READ_LIMIT);
    expect(rep.totalMs).toBeLessThan(20_000);
    expect(rep.accepted).toBeGreaterThan(N * 0.05);
    for (const code of ['bad-json', 'bad-index', 'missing-shard', 'tensor-not-in-shard', 'accepted']) expect.soft(rep.codes.get(code) ?? 0, `mutants with outcome ${code}`).toBeGreaterThan(0);
  }, 30_000);
});
