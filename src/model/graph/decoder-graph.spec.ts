import { describe, expect, it } from 'vitest';
import { buildTriplet } from '../../../scripts/fixtures.ts';
import { f32BitsToF16, f32ToBits } from '../../core/dtype.ts';
import { buildDecoderGraph } from './decoder-graph.ts';
import { decoderSpecFromConfig } from './decoder-spec.ts';
import { packExternalData } from './external-data.ts';
import { decodeModel, TensorType } from './onnx-proto.ts';

const spec = decoderSpecFromConfig(buildTriplet({ arch: 'qwen2', dtype: 'F32', layers: 3 }).chat.config);

describe('buildDecoderGraph', () => {
  it('declares the genai-style inputs and outputs, opset 17, plain ONNX ops only', () => {
    const graph = buildDecoderGraph(spec, { logits: 'all' });
    const model = decodeModel(graph.modelBytes);
    expect(model.opsetImport).toEqual([{ domain: '', version: 17 }]);
    const io = (vs: typeof model.graph.input) => vs.map((v) => `${v.name}:${v.type.tensorType.elemType}:${v.type.tensorType.shape.dim.map((d) => d.dimParam ?? d.dimValue).join('x')}`);
    expect(io(model.graph.input).slice(0, 5)).toEqual(['input_ids:7:batchxsequence', 'attention_mask:7:batchxtotal_sequence', 'position_ids:7:batchxsequence', 'past_key_values.0.key:1:batchx2xpast_sequencex16', 'past_key_values.0.value:1:batchx2xpast_sequencex16']);
    expect(io(model.graph.output)).toEqual(['logits:1:batchxsequencex300', ...[0, 1, 2].flatMap((l) => [`present.${l}.key:1:batchx2xtotal_sequencex16`, `present.${l}.value:1:batchx2xtotal_sequencex16`])]);
    expect(model.graph.node.every((n) => !n.domain)).toBe(true);
    expect(new Set(model.graph.node.map((n) => n.opType))).toEqual(new Set(['Shape', 'Concat', 'Cast', 'Unsqueeze', 'Mul', 'Cos', 'Sin', 'Squeeze', 'Sub', 'Range', 'Where', 'LessOrEqual', 'Tile', 'Gather', 'Reshape', 'Pow', 'ReduceMean', 'Add', 'Sqrt', 'Div', 'Gemm', 'Slice', 'Transpose', 'MatMul', 'Softmax', 'Sigmoid']));
  });

  it('weights are external initializers, aligned, in files of at most maxFileBytes; f16 halves them', async () => {
    const graph = buildDecoderGraph(spec, { maxFileBytes: 200_000 });
    const model = decodeModel(graph.modelBytes);
    const external = model.graph.initializer.filter((t) => t.dataLocation === 1);
    expect(external.map((t) => t.name)).toEqual(graph.weights.map((w) => w.name));
    const q = external.find((t) => t.name === 'model.layers.2.self_attn.q_proj.weight')!;
    const slot = graph.weights.find((w) => w.name === q.name)!;
    expect(q.dims).toEqual([64, 64]);
    expect(q.dataType).toBe(TensorType.FLOAT);
    expect(q.externalData).toEqual([{ key: 'location', value: slot.file }, { key: 'offset', value: String(slot.offset) }, { key: 'length', value: '16384' }]);
    expect(graph.files.length).toBeGreaterThan(1);
    for (const f of graph.files) expect(f.byteLength <= 200_000 || graph.weights.filter((w) => w.file === f.path).length === 1).toBe(true);
    for (const w of graph.weights) expect(w.offset % 64).toBe(0);
    // The model proto itself holds no weights.
    expect(graph.modelBytes.byteLength).toBeLessThan(64 * 1024);

    const half = buildDecoderGraph(spec, { weightDtype: 'f16' });
    expect(half.kvType).toBe('float16');
    expect(half.weights.find((w) => w.name === q.name)!.byteLength).toBe(8192);
    const weights = new Map(buildTriplet({ arch: 'qwen2', dtype: 'F32', layers: 3 }).chat.tensors.map((t) => [t.name, t.data as Float32Array]));
    const files = await packExternalData(half, weights);
    const s = half.weights.find((w) => w.name === 'model.norm.weight')!;
    const bits = new Uint16Array(files.find((f) => f.path === s.file)!.data.buffer, s.offset, 64);
    expect([...bits]).toEqual([...weights.get('model.norm.weight')!].map((v) => f32BitsToF16(f32ToBits(v))));
  });

  it('the graph bytes depend on the config only (same bytes for any weights)', () => {
    expect(buildDecoderGraph(spec).modelBytes).toEqual(buildDecoderGraph(spec).modelBytes);
  });
});
