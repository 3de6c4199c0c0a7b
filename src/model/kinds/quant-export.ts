// How a fixed-point (or float) weight layer writes itself into the integer and the packed
// exports (used by the qdense and qconv kinds): integer weights with one power-of-two exponent
// per tensor and int32 biases at the accumulator's exponent (int), or packed integer codes and the
// bias as the network adds it (packed).
import { qRange } from '../../../quant/po2-quantizers.js';
import { IntExportError, toBase64, type IntWeightFields, type IntWriter } from '../../formats/int-model.js';
import { packCodes } from '../../formats/packed-file.js';
import type { PackedWriter, QuantWeightFields } from '../../formats/packed-ops.js';
import { biasCode, type QuantWeightLayer } from '../../layers/quant-layer.js';

/** The int op fields of a trained fixed-point weight layer; advances the writer to its accumulator. `nIn`: the op's input width (conv: channels). */
export function intWeightFields(l: QuantWeightLayer, nIn: number, out: IntWriter): IntWeightFields {
  l.weights.ensure(1); // a quantizer step still pending after the last update
  const ew = l.weights.exponent;
  if (ew === null) throw new IntExportError(`${l.name}: weights were never quantized (train at least one step)`);
  const s = 2 ** ew;
  const wq = l.weights.wq;
  const W = l.weights.format!.bits <= 8 ? new Int8Array(wq.length) : new Int16Array(wq.length);
  for (let k = 0; k < W.length; k++) W[k] = wq[k] / s;
  const inputExponent = out.inputExponent;
  const accExponent = (out.accExponent = ew + inputExponent);
  const bias = Int32Array.from(l.bias.raw as Float32Array, (v) => biasCode(v, accExponent));
  let biasMax = 0;
  for (const v of bias) biasMax = Math.max(biasMax, Math.abs(v));
  const fanIn = l.weights.cols;
  out.accumulatorBound = Math.max(out.accumulatorBound, fanIn * qRange(l.weights.format!).hi * out.inputMax + biasMax);
  return {
    name: l.name,
    nIn,
    nOut: l.weights.rows,
    weightBits: l.weights.format!.bits,
    weightExponent: ew,
    inputExponent,
    accExponent,
    weights: toBase64(W),
    weightType: W instanceof Int8Array ? 'int8' : 'int16',
    bias: toBase64(bias),
  };
}

/** The packed op fields of a fixed-point weight layer: integer codes (exact: every value is code · 2^e), or float32 weights. */
export function packedWeightFields(l: QuantWeightLayer, out: PackedWriter): QuantWeightFields {
  const q = l.weights;
  const e = q.exponent;
  const input = out.input;
  out.input = 'float';
  let weights: Pick<QuantWeightFields, 'weightBits' | 'weightExponent' | 'weights'>;
  if (!q.format || e === null) weights = { weightBits: null, weightExponent: 0, weights: out.sections.add(Float32Array.from(q.wq)) };
  else {
    const s = 2 ** e;
    weights = {
      weightBits: q.format.bits,
      weightExponent: e,
      weights: out.sections.add(
        packCodes(
          Int32Array.from(q.wq, (v) => v / s),
          q.format.bits,
        ),
      ),
    };
  }
  return { name: l.name, input, quantizeInput: l.quantizeInput, ...weights, bias: out.sections.add(Float32Array.from(l.biasQ)) };
}
