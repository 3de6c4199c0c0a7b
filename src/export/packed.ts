// `export --format packed`: a trained network as a compact inference file. Binary weights
// stay the packed sign bits training already keeps; each batch norm followed by a sign becomes one
// threshold per channel (src/model/kinds/sign-thresholds.ts), so the file gives the checkpoint's
// predictions exactly; fixed-point weights become packed integer codes. Each layer's kind writes
// its ops (src/model/kinds/); this file assembles the header. See docs/inference.md.
import type { InputMeta } from '../data/dataset.js';
import type { Dataset } from '../data/dataset.js';
import { encodePacked, SectionWriter } from '../formats/packed-file.js';
import { PackedExportError, type PackedHeader, type PackedWriter } from '../formats/packed-ops.js';
import { writeLayers } from '../model/kinds/export-walk.js';
import type { Network } from '../model/network.js';
import { precisionKind, type ModelSpec } from '../model/spec.js';

export { PackedExportError, type PackedHeader, type PackedInput, type PackedOp, type QuantWeightFields } from '../formats/packed-ops.js';
export { signThresholds } from '../model/kinds/sign-thresholds.js';

/**
 * One inference forward of a single example: fixed-point layers settle what inference uses (the
 * quantized weights, the bias on the accumulator's grid) exactly as evaluation does.
 */
function settleFixedPoint(net: Network, spec: ModelSpec, input: InputMeta): void {
  const f = spec.input.h * spec.input.w * spec.input.c;
  const one: Dataset = {
    name: 'export',
    count: 1,
    features: f,
    classes: spec.classes,
    shape: { ...spec.input },
    images: new Uint8Array(input.kind === 'pixels' ? f : 0),
    ...(input.kind === 'features' ? { values: new Float32Array(f) } : {}),
    labels: new Uint8Array(1),
  };
  net.evaluate(one);
}

/** The packed form of a trained network (binary, fixed-point or a mix). */
export function packedModel(net: Network, spec: ModelSpec, input: InputMeta, producer: string): { header: PackedHeader; data: Uint8Array } {
  if (precisionKind(spec) !== 'binary') settleFixedPoint(net, spec, input);
  const out: PackedWriter = { sections: new SectionWriter(), ops: [], input: 'float', zRange: null };
  writeLayers(net, 'packed', out, (m) => new PackedExportError(m));
  const header: PackedHeader = {
    format: 'bitlearn-packed',
    producer,
    model: spec.name,
    classes: spec.classes,
    input: { ...input, shape: { ...spec.input } },
    ops: out.ops,
  };
  return { header, data: out.sections.bytes() };
}

/** The packed model file's bytes. */
export function packedFile(net: Network, spec: ModelSpec, input: InputMeta, producer: string): Uint8Array {
  const { header, data } = packedModel(net, spec, input, producer);
  return encodePacked(header, data);
}
