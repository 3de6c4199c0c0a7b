// Model specifications by name. Sizes only: the network builder and the memory model both read them.
export interface MlpSpec {
  kind: 'mlp';
  name: string;
  inputs: number;
  hidden: number[];
  classes: number;
}
export type ModelSpec = MlpSpec;

export const MODELS: Record<string, ModelSpec> = {
  // DESIGN section 2: 784 -> 4 x [FC256-BN-sign] -> FC10-BN; 399,872 weights.
  mlp: { kind: 'mlp', name: 'mlp', inputs: 784, hidden: [256, 256, 256, 256], classes: 10 },
};

export function modelSpec(name: string): ModelSpec {
  const spec = MODELS[name];
  if (!spec) throw new Error(`unknown model "${name}" (available: ${Object.keys(MODELS).join(', ')})`);
  return spec;
}

/** Dense layers as (inputs, outputs) pairs, first to last. */
export function denseShapes(spec: MlpSpec): { nIn: number; nOut: number }[] {
  const widths = [spec.inputs, ...spec.hidden, spec.classes];
  return widths.slice(1).map((nOut, i) => ({ nIn: widths[i], nOut }));
}

export function weightCount(spec: ModelSpec): number {
  return denseShapes(spec).reduce((s, d) => s + d.nIn * d.nOut, 0);
}

/** Rows processed at a time when streaming through gradient stores. */
export const CHUNK_ROWS = 8;

/** Sizes of the buffers all layers share. */
export function workspaceSizes(spec: ModelSpec, batch: number) {
  const shapes = denseShapes(spec);
  const maxOut = Math.max(...shapes.map((s) => s.nOut));
  const maxWidth = Math.max(spec.inputs, maxOut);
  const maxGrad = Math.max(maxOut, ...shapes.slice(1).map((s) => s.nIn));
  const chunk = Math.min(CHUNK_ROWS, batch);
  return {
    chunkRows: chunk,
    act: batch * maxOut,
    chunk: chunk * maxWidth,
    chan: 3 * maxOut,
    grad: batch * maxGrad,
  };
}
