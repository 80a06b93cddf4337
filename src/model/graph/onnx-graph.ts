/** A small ONNX graph IR: values are names, ops append nodes, constants are deduplicated initializers. */
import { f32BitsToF16, f32ToBits } from '../../core/dtype.ts';
import { AttributeType, encodeModel, TensorType, type AttributeMessage, type NodeMessage, type TensorMessage, type TensorTypeCode, type ValueInfoMessage } from './onnx-proto.ts';

export type ElemType = 'float32' | 'float16' | 'int64' | 'int32' | 'bool';
export const ELEM_CODE: Record<ElemType, TensorTypeCode> = { float32: TensorType.FLOAT, float16: TensorType.FLOAT16, int64: TensorType.INT64, int32: TensorType.INT32, bool: TensorType.BOOL };
const ELEM_SIZE: Record<ElemType, number> = { float32: 4, float16: 2, int64: 8, int32: 4, bool: 1 };

/** An attribute value, tagged with its ONNX type (a JS number alone cannot say int or float). */
export type Attr = { i: number } | { f: number } | { ints: number[] } | { floats: number[] } | { s: string } | { t: TensorMessage };
/** A dimension: a fixed size or a symbolic name. */
export type Dim = number | string;

export interface ExternalLocation {
  /** Path as ORT will look it up in `externalData`. */
  file: string;
  offset: number;
  byteLength: number;
}

export class OnnxGraph {
  private readonly nodes: NodeMessage[] = [];
  private readonly initializers: TensorMessage[] = [];
  private readonly inputs: ValueInfoMessage[] = [];
  private readonly outputs: ValueInfoMessage[] = [];
  private readonly constants = new Map<string, string>();
  private readonly names = new Set<string>();
  private counter = 0;
  /** Prefix for node and value names made by `op` (e.g. `/layers.3/attn`). */
  scope = '';

  constructor(readonly name: string) {}

  input(name: string, type: ElemType, dims: Dim[]): string {
    this.claim(name);
    this.inputs.push(valueInfo(name, type, dims));
    return name;
  }

  /** Declare `name` (made by an op with `outputs: [name]`) as a graph output. */
  output(name: string, type: ElemType, dims: Dim[]): void {
    this.outputs.push(valueInfo(name, type, dims));
  }

  /** Append one node; returns its output names (one unless `outputs` says more). */
  op(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, opts: { outputs?: string[] | number; domain?: string } = {}): string[] {
    const id = this.counter++;
    const nodeName = `${this.scope}/${opType}_${id}`;
    const outs = typeof opts.outputs === 'object' ? opts.outputs : Array.from({ length: opts.outputs ?? 1 }, (_, k) => `${nodeName}/output_${k}`);
    for (const o of outs) this.claim(o);
    const attribute: AttributeMessage[] = Object.entries(attrs).map(([name, a]) => attribute_(name, a));
    this.nodes.push({ name: nodeName, opType, input: inputs, output: outs, attribute, ...(opts.domain ? { domain: opts.domain } : {}) });
    return outs;
  }

  /** One-output shorthand for `op`. */
  op1(opType: string, inputs: string[], attrs: Record<string, Attr> = {}, output?: string): string {
    return this.op(opType, inputs, attrs, output ? { outputs: [output] } : {})[0];
  }

  /** A constant tensor stored inside the model; identical constants share one initializer. */
  constant(type: ElemType, dims: number[], values: ArrayLike<number> | ArrayLike<bigint>): string {
    const raw = rawBytes(type, values);
    const count = dims.reduce((a, b) => a * b, 1);
    if (raw.byteLength !== count * ELEM_SIZE[type]) throw new Error(`internal: constant of ${type}${JSON.stringify(dims)} given ${raw.byteLength} bytes`);
    const key = `${type}|${dims.join(',')}|${Array.from(raw).join(',')}`;
    const have = this.constants.get(key);
    if (have) return have;
    const name = `const_${this.constants.size}`;
    this.claim(name);
    this.initializers.push({ name, dims, dataType: ELEM_CODE[type], rawData: raw });
    this.constants.set(key, name);
    return name;
  }

  /** int64 vector constant (shapes, axes, indices). */
  ints(values: number[]): string {
    return this.constant('int64', [values.length], values.map((v) => BigInt(v)));
  }
  /** Scalar constant. */
  scalar(type: ElemType, value: number): string {
    return this.constant(type, [], type === 'int64' ? [BigInt(value)] : [value]);
  }

  /** An initializer whose bytes live in an external data file. */
  external(name: string, type: ElemType, dims: number[], at: ExternalLocation): string {
    this.claim(name);
    this.initializers.push({
      name, dims, dataType: ELEM_CODE[type], dataLocation: 1,
      externalData: [{ key: 'location', value: at.file }, { key: 'offset', value: String(at.offset) }, { key: 'length', value: String(at.byteLength) }],
    });
    return name;
  }

  get nodeCount(): number {
    return this.nodes.length;
  }

  encode(opts: { opset: number; extraOpsets?: { domain: string; version: number }[]; producerVersion: string; metadata?: Record<string, string> }): Uint8Array {
    return encodeModel({
      irVersion: 8,
      producerName: 'chat-vector-studio',
      producerVersion: opts.producerVersion,
      opsetImport: [{ domain: '', version: opts.opset }, ...(opts.extraOpsets ?? [])],
      metadataProps: Object.entries(opts.metadata ?? {}).map(([key, value]) => ({ key, value })),
      graph: { name: this.name, node: this.nodes, initializer: this.initializers, input: this.inputs, output: this.outputs },
    });
  }

  private claim(name: string): void {
    if (this.names.has(name)) throw new Error(`internal: ONNX value "${name}" defined twice`);
    this.names.add(name);
  }
}

function valueInfo(name: string, type: ElemType, dims: Dim[]): ValueInfoMessage {
  return { name, type: { tensorType: { elemType: ELEM_CODE[type], shape: { dim: dims.map((d) => (typeof d === 'number' ? { dimValue: d } : { dimParam: d })) } } } };
}

function attribute_(name: string, a: Attr): AttributeMessage {
  if ('i' in a) return { name, type: AttributeType.INT, i: a.i };
  if ('f' in a) return { name, type: AttributeType.FLOAT, f: a.f };
  if ('ints' in a) return { name, type: AttributeType.INTS, ints: a.ints };
  if ('floats' in a) return { name, type: AttributeType.FLOATS, floats: a.floats };
  if ('s' in a) return { name, type: AttributeType.STRING, s: new TextEncoder().encode(a.s) };
  return { name, type: AttributeType.TENSOR, t: a.t };
}

function rawBytes(type: ElemType, values: ArrayLike<number> | ArrayLike<bigint>): Uint8Array {
  const n = values.length;
  switch (type) {
    case 'float32': return new Uint8Array(Float32Array.from(values as ArrayLike<number>).buffer);
    case 'int32': return new Uint8Array(Int32Array.from(values as ArrayLike<number>).buffer);
    case 'int64': return new Uint8Array(BigInt64Array.from(values as ArrayLike<bigint>).buffer);
    case 'bool': return Uint8Array.from(values as ArrayLike<number>, (v) => (v ? 1 : 0));
    case 'float16': {
      const out = new Uint16Array(n);
      for (let i = 0; i < n; i++) out[i] = f16Bits(Number(values[i]));
      return new Uint8Array(out.buffer);
    }
  }
}

function f16Bits(v: number): number {
  return f32BitsToF16(f32ToBits(v));
}
