import { describe, expect, it } from 'vitest';
import { ChatvecError } from '../errors.ts';
import { INDEX_FILE, loadCheckpoint } from '../checkpoint.ts';
import { BlobSource, BlobTree } from '../sources/blob.ts';
import { buildSafetensorsHeader, type HeaderTensor } from './build-header.ts';
import { MAX_HEADER_BYTES, parseSafetensorsHeader, readSafetensorsHeader } from './header.ts';

const FILE = 'models/m.safetensors';
const CORRUPT = 'This is not a safetensors file, or it is corrupt';
const enc = new TextEncoder();

function concat(...parts: Uint8Array[]): Uint8Array<ArrayBuffer> {
  const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
  let o = 0;
  for (const p of parts) {
    out.set(p, o);
    o += p.length;
  }
  return out;
}

/** 8-byte little-endian length, then `header`, then `dataBytes` zero bytes. */
function withLength(len: number | bigint, header: string | Uint8Array, dataBytes = 0): Uint8Array<ArrayBuffer> {
  const prefix = new Uint8Array(8);
  new DataView(prefix.buffer).setBigUint64(0, BigInt(len), true);
  return concat(prefix, typeof header === 'string' ? enc.encode(header) : header, new Uint8Array(dataBytes));
}

/** A file whose length prefix matches its header. */
function rawFile(header: string | Uint8Array, dataBytes = 0): Uint8Array<ArrayBuffer> {
  const h = typeof header === 'string' ? enc.encode(header) : header;
  return withLength(h.length, h, dataBytes);
}

/** A file with the given header object (tensor entries written as-is) and a data buffer of `dataBytes`. */
function jsonFile(header: unknown, dataBytes = 0): Uint8Array<ArrayBuffer> {
  return rawFile(JSON.stringify(header), dataBytes);
}

/** A valid file: header laid out by buildSafetensorsHeader, data filled with a byte pattern. */
function builtFile(tensors: HeaderTensor[], metadata?: Record<string, string>): Uint8Array<ArrayBuffer> {
  const b = buildSafetensorsHeader(tensors, metadata);
  const out = new Uint8Array(b.fileSize);
  out.set(b.bytes);
  for (let i = b.bytes.length; i < out.length; i++) out[i] = i & 0xff;
  return out;
}

function source(bytes: Uint8Array<ArrayBuffer>, name = FILE): BlobSource {
  return new BlobSource(new Blob([bytes]), name);
}

async function headerError(bytes: Uint8Array<ArrayBuffer>): Promise<ChatvecError> {
  const err = await readSafetensorsHeader(source(bytes)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChatvecError);
  return err as ChatvecError;
}

async function expectHeaderError(bytes: Uint8Array<ArrayBuffer>, code: string, message: string | RegExp): Promise<ChatvecError> {
  const e = await headerError(bytes);
  expect(e.code).toBe(code);
  if (typeof message === 'string') expect(e.message).toBe(message);
  else expect(e.message).toMatch(message);
  return e;
}

/** A one-tensor header `{"w": entry}` over a data buffer of `dataBytes`. */
function entryFile(entry: Record<string, unknown>, dataBytes = 16): Uint8Array<ArrayBuffer> {
  return jsonFile({ w: entry }, dataBytes);
}

const W = `${FILE}, tensor "w"`;

describe('readSafetensorsHeader: the length prefix', () => {
  it('rejects a file shorter than 8 bytes', async () => {
    await expectHeaderError(new Uint8Array(5), 'file-too-short', `${FILE}: file is too short to be safetensors; expected at least 8 bytes (the header length), found 5 bytes. The download may be incomplete; fetch the file again`);
    await expectHeaderError(new Uint8Array(0), 'file-too-short', `${FILE}: file is too short to be safetensors; expected at least 8 bytes (the header length), found 0 bytes. The download may be incomplete; fetch the file again`);
  });

  it('rejects a header length over 100 MB before reading it', async () => {
    await expectHeaderError(withLength(MAX_HEADER_BYTES + 1, '{}'), 'header-too-large', `${FILE}: header length is too large; expected at most 100000000 bytes, found 100000001 bytes. ${CORRUPT}`);
  });

  it('names the exact header length even above 2^53 (regression: it was rounded)', async () => {
    await expectHeaderError(withLength(2n ** 64n - 1n, '{}'), 'header-too-large', `${FILE}: header length is too large; expected at most 100000000 bytes, found 18446744073709551615 bytes. ${CORRUPT}`);
    await expectHeaderError(withLength(2n ** 53n + 1n, '{}'), 'header-too-large', `${FILE}: header length is too large; expected at most 100000000 bytes, found 9007199254740993 bytes. ${CORRUPT}`);
  });

  it('accepts a header of exactly 100 MB as far as the length check goes', async () => {
    // the file is shorter, so it fails on the next check rather than on the size limit
    await expectHeaderError(withLength(MAX_HEADER_BYTES, '{}'), 'header-past-eof', `${FILE}: header extends past the end of the file; expected a header of at most 2 bytes, found 100000000 bytes. The file is truncated; download it again`);
  });

  it('rejects a header length past the end of the file', async () => {
    await expectHeaderError(withLength(100, '{}', 8), 'header-past-eof', `${FILE}: header extends past the end of the file; expected a header of at most 10 bytes, found 100 bytes. The file is truncated; download it again`);
    await expectHeaderError(withLength(1, ''), 'header-past-eof', `${FILE}: header extends past the end of the file; expected a header of at most 0 bytes, found 1 bytes. The file is truncated; download it again`);
  });

  it('never reads more than 8 + the header length, even for a large file', async () => {
    const file = builtFile([{ name: 'w', dtype: 'F32', shape: [1000] }]);
    const src = source(file);
    const reads: [number, number][] = [];
    const spy = { name: src.name, size: src.size, read: (o: number, l: number) => (reads.push([o, l]), src.read(o, l)) };
    const h = await readSafetensorsHeader(spy);
    expect(reads).toEqual([[0, 8], [8, h.headerLength]]);
  });
});

describe('parseSafetensorsHeader: the JSON', () => {
  it('rejects a header that is not UTF-8, naming the first bad byte', async () => {
    await expectHeaderError(rawFile(new Uint8Array([0x7b, 0x22, 0xff, 0x22, 0x3a, 0x31, 0x7d])), 'header-not-utf8', `${FILE}: header is not valid UTF-8; expected UTF-8 JSON text, found byte 0xff at file offset 10. ${CORRUPT}`);
    // a lone surrogate (ED A0 80) after a valid two-byte character
    await expectHeaderError(rawFile(new Uint8Array([0x7b, 0xc3, 0xa9, 0xed, 0xa0, 0x80, 0x7d])), 'header-not-utf8', `${FILE}: header is not valid UTF-8; expected UTF-8 JSON text, found byte 0xed at file offset 11. ${CORRUPT}`);
    // a character cut off by the end of the header (the next byte, in the data, would complete it)
    await expectHeaderError(concat(rawFile(new Uint8Array([0x7b, 0x7d, 0xe2, 0x82])), new Uint8Array([0xac])), 'header-not-utf8', `${FILE}: header is not valid UTF-8; expected UTF-8 JSON text, found byte 0xe2 at file offset 10. ${CORRUPT}`);
  });

  it('rejects a header that is not JSON', async () => {
    const e = await expectHeaderError(rawFile('{"w": {"dtype": "F32",'), 'header-not-json', /^models\/m\.safetensors: header is not valid JSON; expected a JSON object of tensor entries, found .*JSON.*\. This is not a safetensors file, or it is corrupt$/);
    expect(e.details.found).toBe((() => { try { JSON.parse('{"w": {"dtype": "F32",'); } catch (x) { return (x as Error).message; } })());
    await expectHeaderError(rawFile(''), 'header-not-json', /^models\/m\.safetensors: header is not valid JSON; expected a JSON object of tensor entries, found .+\. This is not a safetensors file, or it is corrupt$/);
  });

  it.each([
    ['an array', '[{"dtype":"F32"}]', 'an array'],
    ['null', 'null', 'null'],
    ['a number', '42', 'number'],
    ['a string', '"w"', 'string'],
  ])('rejects JSON that is %s rather than an object', async (_what, json, found) => {
    await expectHeaderError(rawFile(json), 'header-not-object', `${FILE}: header is not a JSON object; expected an object of tensor entries, found ${found}`);
  });

  it('rejects __metadata__ that is not an object', async () => {
    await expectHeaderError(jsonFile({ __metadata__: 'pt' }), 'bad-metadata', `${FILE}, tensor "__metadata__": __metadata__ is not an object; expected a string→string map, found "pt"`);
    await expectHeaderError(jsonFile({ __metadata__: ['format', 'pt'] }), 'bad-metadata', `${FILE}, tensor "__metadata__": __metadata__ is not an object; expected a string→string map, found ["format","pt"]`);
    await expectHeaderError(jsonFile({ __metadata__: null }), 'bad-metadata', `${FILE}, tensor "__metadata__": __metadata__ is not an object; expected a string→string map, found null`);
  });

  it('rejects a __metadata__ value that is not a string', async () => {
    await expectHeaderError(jsonFile({ __metadata__: { format: 'pt', total_size: 1024 } }), 'bad-metadata', `${FILE}, tensor "__metadata__.total_size": __metadata__ value is not a string; expected a string, found 1024`);
    await expectHeaderError(jsonFile({ __metadata__: { nested: { a: 'b' } } }), 'bad-metadata', `${FILE}, tensor "__metadata__.nested": __metadata__ value is not a string; expected a string, found {"a":"b"}`);
  });
});

describe('parseSafetensorsHeader: tensor entries', () => {
  const ok = { dtype: 'F32', shape: [2, 2], data_offsets: [0, 16] };

  it('rejects an entry that is not an object', async () => {
    await expectHeaderError(jsonFile({ w: [0, 16] }), 'bad-tensor-entry', `${W}: entry is not an object; expected an object with dtype, shape and data_offsets, found [0,16]`);
  });

  it('rejects an unknown dtype', async () => {
    await expectHeaderError(entryFile({ ...ok, dtype: 'F33' }), 'bad-dtype', `${W}: unknown dtype; expected one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, …, found "F33"`);
    await expectHeaderError(entryFile({ ...ok, dtype: 'f32' }), 'bad-dtype', `${W}: unknown dtype; expected one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, …, found "f32"`);
    // names of Object.prototype members are not dtypes
    await expectHeaderError(entryFile({ ...ok, dtype: 'toString' }), 'bad-dtype', `${W}: unknown dtype; expected one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, …, found "toString"`);
    const { dtype: _d, ...noDtype } = ok;
    await expectHeaderError(entryFile(noDtype), 'bad-dtype', `${W}: unknown dtype; expected one of F32, F16, BF16, F64, I64, I32, I16, I8, U8, BOOL, …, found nothing`);
  });

  it.each([
    ['not an array', 4, '4'],
    ['negative', [-1, 4], '[-1,4]'],
    ['a non-integer string', ['2', 2], '["2",2]'],
    ['a float', [1.5, 2], '[1.5,2]'],
    ['nested', [[2, 2]], '[[2,2]]'],
    ['past 2^53', [2 ** 53, 1], '[9007199254740992,1]'],
  ])('rejects a shape that is %s', async (_what, shape, found) => {
    await expectHeaderError(entryFile({ ...ok, shape }), 'bad-shape', `${W}: shape is not a list of non-negative integers; expected e.g. [4096, 4096], found ${found}`);
  });

  it('rejects a shape whose element count overflows', async () => {
    await expectHeaderError(entryFile({ ...ok, shape: [2 ** 30, 2 ** 30, 2 ** 30], data_offsets: [0, 0] }), 'bad-shape', `${W}: shape has too many elements; expected fewer than 9007199254740991, found [1073741824,1073741824,1073741824]`);
    // a zero after the overflow does not rescue it
    await expectHeaderError(entryFile({ ...ok, shape: [2 ** 30, 2 ** 30, 2 ** 30, 0], data_offsets: [0, 0] }), 'bad-shape', `${W}: shape has too many elements; expected fewer than 9007199254740991, found [1073741824,1073741824,1073741824,0]`);
  });

  it.each([
    ['not a pair', [0], '[0]'],
    ['a triple', [0, 8, 16], '[0,8,16]'],
    ['not an array', '0-16', '"0-16"'],
    ['negative', [-16, 0], '[-16,0]'],
    ['fractional', [0.5, 16.5], '[0.5,16.5]'],
    ['past 2^53', [0, 2 ** 53], '[0,9007199254740992]'],
  ])('rejects data_offsets that are %s', async (_what, data_offsets, found) => {
    await expectHeaderError(entryFile({ ...ok, data_offsets }), 'bad-offsets', `${W}: data_offsets is not a pair of non-negative integers; expected [begin, end], found ${found}`);
  });

  it('rejects data_offsets with begin > end', async () => {
    await expectHeaderError(entryFile({ ...ok, data_offsets: [16, 0] }), 'offsets-out-of-range', `${W}: data_offsets lie outside the data buffer; expected 0 ≤ begin ≤ end ≤ 16, found [16, 0]`);
  });

  it('rejects data_offsets whose end is past the data buffer', async () => {
    await expectHeaderError(entryFile({ ...ok, data_offsets: [4, 20] }), 'offsets-out-of-range', `${W}: data_offsets lie outside the data buffer; expected 0 ≤ begin ≤ end ≤ 16, found [4, 20]`);
    await expectHeaderError(entryFile({ ...ok, data_offsets: [0, 16] }, 15), 'offsets-out-of-range', `${W}: data_offsets lie outside the data buffer; expected 0 ≤ begin ≤ end ≤ 15, found [0, 16]`);
  });

  it('rejects a byte length that is not product(shape) × dtype size', async () => {
    await expectHeaderError(entryFile({ ...ok, dtype: 'BF16' }), 'length-mismatch', `${W}: byte length does not match shape × dtype size; expected 8 bytes ([2,2] × 2), found 16 bytes`);
    await expectHeaderError(entryFile({ ...ok, shape: [] }), 'length-mismatch', `${W}: byte length does not match shape × dtype size; expected 4 bytes ([] × 4), found 16 bytes`);
  });

  it('rejects overlapping tensors', async () => {
    const file = jsonFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'F32', shape: [2], data_offsets: [4, 12] } }, 16);
    await expectHeaderError(file, 'tensor-overlap', `${FILE}, tensor "b": tensor data overlaps another tensor; expected data starting at or after byte 8 (end of "a"), found data_offsets starting at 4`);
    // the same data twice
    const twice = jsonFile({ a: { dtype: 'F32', shape: [2], data_offsets: [0, 8] }, b: { dtype: 'I32', shape: [2], data_offsets: [0, 8] } }, 8);
    await expectHeaderError(twice, 'tensor-overlap', /^models\/m\.safetensors, tensor "[ab]": tensor data overlaps another tensor; expected data starting at or after byte 8 \(end of "[ab]"\), found data_offsets starting at 0$/);
  });

  it('rejects an unknown field in a tensor entry', async () => {
    await expectHeaderError(entryFile({ ...ok, offset: 0 }), 'bad-tensor-entry', `${W}: unknown field in tensor entry; expected only dtype, shape and data_offsets, found "offset"`);
  });

  it('describes a deeply nested value instead of overflowing the stack (regression: RangeError)', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    await expectHeaderError(rawFile(`{"w":${deep}}`), 'bad-tensor-entry', `${W}: entry is not an object; expected an object with dtype, shape and data_offsets, found a deeply nested array`);
    await expectHeaderError(rawFile(`{"w":{"dtype":"F32","shape":${deep},"data_offsets":[0,0]}}`), 'bad-shape', `${W}: shape is not a list of non-negative integers; expected e.g. [4096, 4096], found a deeply nested array`);
    await expectHeaderError(rawFile(`{"__metadata__":{"a":{"b":${deep}}}}`), 'bad-metadata', `${FILE}, tensor "__metadata__.a": __metadata__ value is not a string; expected a string, found a deeply nested object`);
  });
});

describe('readSafetensorsHeader: valid files', () => {
  it('gives absolute offsets (8 + header length + begin), keeps metadata and order', async () => {
    const tensors: HeaderTensor[] = [
      { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [4, 3] },
      { name: 'b', dtype: 'I64', shape: [2] },
      { name: 'scalar', dtype: 'F64', shape: [] },
      { name: 'mask', dtype: 'BOOL', shape: [3] },
    ];
    const built = buildSafetensorsHeader(tensors, { format: 'pt', note: 'ünï ✓' });
    const h = await readSafetensorsHeader(source(builtFile(tensors, { format: 'pt', note: 'ünï ✓' })));
    expect(h.file).toBe(FILE);
    expect(h.headerLength).toBe(built.bytes.length - 8);
    expect(h.dataStart).toBe(built.bytes.length);
    expect(h.fileSize).toBe(built.fileSize);
    expect(h.metadata).toEqual({ format: 'pt', note: 'ünï ✓' });
    expect(h.tensors).toEqual([
      { name: 'model.embed_tokens.weight', dtype: 'BF16', shape: [4, 3], offset: h.dataStart + 0, byteLength: 24 },
      { name: 'b', dtype: 'I64', shape: [2], offset: h.dataStart + 24, byteLength: 16 },
      { name: 'scalar', dtype: 'F64', shape: [], offset: h.dataStart + 40, byteLength: 8 },
      { name: 'mask', dtype: 'BOOL', shape: [3], offset: h.dataStart + 48, byteLength: 3 },
    ]);
    expect(h.tensors.map((t) => t.offset)).toEqual(built.offsets);
  });

  it('computes offsets from the header length for a hand-written header with a hole and reversed order', async () => {
    const json = '{"y":{"dtype":"F16","shape":[2],"data_offsets":[8,12]},"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}';
    const h = await readSafetensorsHeader(source(rawFile(json, 12)));
    expect(h.headerLength).toBe(json.length);
    expect(h.metadata).toEqual({});
    expect(h.tensors).toEqual([
      { name: 'y', dtype: 'F16', shape: [2], offset: 8 + json.length + 8, byteLength: 4 },
      { name: 'x', dtype: 'F32', shape: [1], offset: 8 + json.length, byteLength: 4 },
    ]);
  });

  it('accepts zero-element tensors, also sharing an offset with another tensor', async () => {
    const h = await readSafetensorsHeader(source(jsonFile({
      empty: { dtype: 'F32', shape: [0, 4096], data_offsets: [0, 0] },
      w: { dtype: 'F32', shape: [2], data_offsets: [0, 8] },
      tail: { dtype: 'BF16', shape: [3, 0], data_offsets: [8, 8] },
    }, 8)));
    expect(h.tensors.map((t) => [t.name, t.shape, t.offset - h.dataStart, t.byteLength])).toEqual([['empty', [0, 4096], 0, 0], ['w', [2], 0, 8], ['tail', [3, 0], 8, 0]]);
  });

  it('accepts a header padded with spaces (and the data after it)', async () => {
    const json = '{"__metadata__":{"format":"pt"},"w":{"dtype":"U8","shape":[3],"data_offsets":[0,3]}}';
    const padded = json + ' '.repeat(13);
    const h = await readSafetensorsHeader(source(rawFile(padded, 3)));
    expect(h.headerLength).toBe(padded.length);
    expect(h.dataStart).toBe(8 + padded.length);
    expect(h.tensors[0].offset).toBe(8 + padded.length);
    expect(h.metadata).toEqual({ format: 'pt' });
  });

  it('accepts a file with metadata and no tensors, and a data buffer longer than the tensors need', async () => {
    const h = await readSafetensorsHeader(source(builtFile([], { format: 'pt' })));
    expect(h.tensors).toEqual([]);
    expect(h.metadata).toEqual({ format: 'pt' });
    const long = await readSafetensorsHeader(source(entryFile({ dtype: 'F32', shape: [1], data_offsets: [0, 4] }, 100)));
    expect(long.tensors[0].byteLength).toBe(4);
  });

  it('parseSafetensorsHeader works on the header bytes alone', () => {
    const file = builtFile([{ name: 'w', dtype: 'F16', shape: [5] }]);
    const len = Number(new DataView(file.buffer).getBigUint64(0, true));
    const h = parseSafetensorsHeader(file.subarray(8, 8 + len), 'x.safetensors', file.length);
    expect(h.tensors).toEqual([{ name: 'w', dtype: 'F16', shape: [5], offset: 8 + len, byteLength: 10 }]);
  });
});

// ---------------------------------------------------------------------------------------------------
// Checkpoint level

type FileMap = Record<string, Uint8Array<ArrayBuffer> | string>;

function tree(files: FileMap, label = 'ck'): BlobTree {
  return new BlobTree(label, new Map(Object.entries(files).map(([k, v]) => [k, new Blob([typeof v === 'string' ? enc.encode(v) : v])])));
}

async function checkpointError(files: FileMap, code: string, message: string | RegExp): Promise<ChatvecError> {
  const err = await loadCheckpoint(tree(files)).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(ChatvecError);
  const e = err as ChatvecError;
  expect(e.code).toBe(code);
  if (typeof message === 'string') expect(e.message).toBe(message);
  else expect(e.message).toMatch(message);
  return e;
}

const S1 = 'model-00001-of-00002.safetensors';
const S2 = 'model-00002-of-00002.safetensors';
const shard1 = () => builtFile([{ name: 'embed.weight', dtype: 'BF16', shape: [4, 2] }, { name: 'layers.0.w', dtype: 'F16', shape: [2, 2] }]);
const shard2 = () => builtFile([{ name: 'norm.weight', dtype: 'F32', shape: [2] }, { name: 'lm_head.weight', dtype: 'BF16', shape: [4, 2] }]);
const goodIndex = () => JSON.stringify({ metadata: { total_size: 48 }, weight_map: { 'embed.weight': S1, 'layers.0.w': S1, 'norm.weight': S2, 'lm_head.weight': S2 } });
const CONFIG = '{"architectures":["LlamaForCausalLM"]}';

describe('loadCheckpoint over a BlobTree', () => {
  it('loads a sharded checkpoint through its index', async () => {
    const ck = await loadCheckpoint(tree({ 'config.json': CONFIG, [INDEX_FILE]: goodIndex(), [S1]: shard1(), [S2]: shard2() }));
    expect(ck.config).toEqual({ architectures: ['LlamaForCausalLM'] });
    expect([...ck.tensors.keys()].sort()).toEqual(['embed.weight', 'layers.0.w', 'lm_head.weight', 'norm.weight']);
    expect(ck.tensors.get('norm.weight')).toMatchObject({ file: S2, dtype: 'F32', shape: [2], byteLength: 8 });
    expect(ck.totalTensorBytes).toBe(16 + 8 + 8 + 16);
    await ck.close();
  });

  it('rejects an index naming a missing shard', async () => {
    await checkpointError({ [INDEX_FILE]: goodIndex(), [S1]: shard1() }, 'missing-shard', `ck/${INDEX_FILE}, tensor "norm.weight": the index names a shard that is not in the folder; expected a file "${S2}", found only ${S1}. Download the missing shard, or fix the index`);
    await checkpointError({ [INDEX_FILE]: goodIndex() }, 'missing-shard', `ck/${INDEX_FILE}, tensor "embed.weight": the index names a shard that is not in the folder; expected a file "${S1}", found only no .safetensors files. Download the missing shard, or fix the index`);
  });

  it('rejects an index naming a tensor that is not in its shard', async () => {
    const index = JSON.stringify({ weight_map: { 'embed.weight': S1, 'layers.0.w': S1, 'norm.weight': S2, 'lm_head.weight': S2, 'layers.1.w': S2 } });
    await checkpointError({ [INDEX_FILE]: index, [S1]: shard1(), [S2]: shard2() }, 'tensor-not-in-shard', `ck/${S2}, tensor "layers.1.w": the index names a tensor that its shard does not contain; expected "layers.1.w" in ${S2} as ${INDEX_FILE} says, found no such tensor in that shard. The index and shards come from different revisions; download them again`);
    // the tensor exists, but in the other shard
    const moved = JSON.stringify({ weight_map: { 'embed.weight': S2, 'layers.0.w': S1, 'norm.weight': S2, 'lm_head.weight': S2 } });
    await checkpointError({ [INDEX_FILE]: moved, [S1]: shard1(), [S2]: shard2() }, 'tensor-not-in-shard', `ck/${S2}, tensor "embed.weight": the index names a tensor that its shard does not contain; expected "embed.weight" in ${S2} as ${INDEX_FILE} says, found no such tensor in that shard. The index and shards come from different revisions; download them again`);
  });

  it('rejects a tensor duplicated across two shards when there is no index', async () => {
    const stale = builtFile([{ name: 'norm.weight', dtype: 'F32', shape: [2] }]);
    await checkpointError({ [S1]: shard1(), [S2]: shard2(), 'model.safetensors': stale }, 'duplicate-tensor', `ck/model.safetensors, tensor "norm.weight": tensor appears in two shards; expected each tensor in exactly one shard, found also in ${S2}. Remove the stale shard from the folder`);
  });

  it('ignores a stale shard the index does not point at', async () => {
    const stale = builtFile([{ name: 'norm.weight', dtype: 'F32', shape: [2] }]);
    const ck = await loadCheckpoint(tree({ [INDEX_FILE]: goodIndex(), [S1]: shard1(), [S2]: shard2(), 'model.safetensors': stale }));
    expect(ck.tensors.get('norm.weight')?.file).toBe(S2);
    await ck.close();
  });

  it('rejects a folder with no safetensors files', async () => {
    await checkpointError({ 'config.json': CONFIG, 'pytorch_model.bin': new Uint8Array(4), 'weights/model.safetensors': shard1() }, 'no-weights', `ck: no safetensors weights found; expected model.safetensors, sharded *.safetensors files, or ${INDEX_FILE}, found config.json, pytorch_model.bin, weights/model.safetensors. Point at the folder that holds the model weights (.bin files must be converted to safetensors first)`);
    await checkpointError({}, 'no-weights', `ck: no safetensors weights found; expected model.safetensors, sharded *.safetensors files, or ${INDEX_FILE}, found an empty folder. Point at the folder that holds the model weights (.bin files must be converted to safetensors first)`);
  });

  it.each([
    ['missing', { metadata: {} }, 'nothing'],
    ['an array', { weight_map: [S1] }, `["${S1}"]`],
    ['null', { weight_map: null }, 'null'],
    ['a map with a non-string shard', { weight_map: { 'embed.weight': S1, 'norm.weight': 2 } }, `{"embed.weight":"${S1}","norm.weight":2}`],
    ['empty (regression: loaded zero tensors)', { weight_map: {} }, '{}'],
  ])('rejects an index whose weight_map is %s', async (_what, index, found) => {
    await checkpointError({ [INDEX_FILE]: JSON.stringify(index), [S1]: shard1(), [S2]: shard2() }, 'bad-index', `ck/${INDEX_FILE}, tensor "weight_map": weight_map is missing or not a map of tensor name → shard file; expected {"tensor.name": "model-00001-of-00002.safetensors", …}, found ${found}`);
  });

  it('rejects a deeply nested weight_map without overflowing the stack (regression: RangeError)', async () => {
    const deep = '['.repeat(100_000) + ']'.repeat(100_000);
    await checkpointError({ [INDEX_FILE]: `{"weight_map":${deep}}`, [S1]: shard1() }, 'bad-index', `ck/${INDEX_FILE}, tensor "weight_map": weight_map is missing or not a map of tensor name → shard file; expected {"tensor.name": "model-00001-of-00002.safetensors", …}, found a deeply nested array`);
    await checkpointError({ [INDEX_FILE]: `{"weight_map":{"a":${deep}}}`, [S1]: shard1() }, 'bad-index', `ck/${INDEX_FILE}, tensor "weight_map": weight_map is missing or not a map of tensor name → shard file; expected {"tensor.name": "model-00001-of-00002.safetensors", …}, found a deeply nested object`);
  });

  it('rejects an index that is not JSON, or not an object', async () => {
    await checkpointError({ [INDEX_FILE]: '{"weight_map": {', [S1]: shard1() }, 'bad-json', new RegExp(`^ck/${INDEX_FILE.replace(/\./g, '\\.')}: not valid JSON; expected a JSON object, found .+$`));
    await checkpointError({ [INDEX_FILE]: '[]', [S1]: shard1() }, 'bad-json', `ck/${INDEX_FILE}: not a JSON object; expected a JSON object, found an array`);
  });

  it('rejects a config.json that is not valid JSON', async () => {
    const e = await checkpointError({ 'config.json': '{"architectures": ["Llama"', 'model.safetensors': shard1() }, 'bad-json', /^ck\/config\.json: not valid JSON; expected a JSON object, found .+$/);
    expect(e.details.found).toBe((() => { try { JSON.parse('{"architectures": ["Llama"'); } catch (x) { return (x as Error).message; } })());
    await checkpointError({ 'config.json': 'null', 'model.safetensors': shard1() }, 'bad-json', 'ck/config.json: not a JSON object; expected a JSON object, found null');
  });

  it('reports a corrupt shard with the shard path', async () => {
    const bad = shard2();
    bad[7] = 0xff;
    await checkpointError({ [INDEX_FILE]: goodIndex(), [S1]: shard1(), [S2]: bad }, 'header-too-large', /^ck\/model-00002-of-00002\.safetensors: header length is too large; expected at most 100000000 bytes, found \d+ bytes\. This is not a safetensors file, or it is corrupt$/);
  });
});
