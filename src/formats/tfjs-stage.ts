// A TF.js layer as plain data: the layer kinds describe their part of a TF.js export in these
// (src/model/kinds/), and src/export/tfjs.ts turns them into tf.layers, so the kinds (and
// training) never load TF.js.

/** The standard TF.js layers an export uses (tf.layers.<name>). */
export type TfjsLayerName = 'dense' | 'conv2d' | 'zeroPadding2d' | 'maxPooling2d' | 'flatten' | 'batchNormalization' | 'activation';

export interface TfjsStage {
  layer: TfjsLayerName;
  /** The layer's arguments, as tf.layers.<name>() takes them (the exporter adds the input shape to the first). */
  config: { name: string } & Record<string, unknown>;
  /** Its weights in TF.js order and layout. */
  weights?: { values: Float32Array; shape: number[] }[];
}

/** What the kinds write a TF.js model into, walking the network in order. */
export interface TfjsWriter {
  readonly stages: TfjsStage[];
  /** No weight layer written yet: the next one reads the 8-bit pixels. */
  firstWeightLayer: boolean;
}

export class TfjsExportError extends Error {}
