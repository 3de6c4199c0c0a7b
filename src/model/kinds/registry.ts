// Every layer kind by its plan type. The network, the memory model, the workspace sizing and the
// hardware floor go through kindOf(); adding a kind is a file in this folder and a line here.
import type { PlannedLayer } from '../spec.js';
import { avgPoolKind } from './avgpool.js';
import { batchNormKind } from './batchnorm.js';
import { convKind } from './conv.js';
import { denseKind } from './dense.js';
import { flattenKind } from './flatten.js';
import type { LayerKind } from './kind.js';
import { maxPoolKind } from './maxpool.js';
import { quantActKind } from './quant-act.js';
import { quantConvKind } from './quant-conv.js';
import { quantDenseKind } from './quant-dense.js';
import { signKind } from './sign.js';

type KindTable = { [T in PlannedLayer['type']]: LayerKind<Extract<PlannedLayer, { type: T }>> };

const KINDS: KindTable = {
  dense: denseKind,
  conv: convKind,
  bn: batchNormKind,
  sign: signKind,
  pool: maxPoolKind,
  avgpool: avgPoolKind,
  flatten: flattenKind,
  qdense: quantDenseKind,
  qconv: quantConvKind,
  qact: quantActKind,
};

export function kindOf<L extends PlannedLayer>(l: L): LayerKind<L> {
  return KINDS[l.type] as unknown as LayerKind<L>;
}
