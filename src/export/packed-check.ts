// The packed file against the checkpoint it came from: the same class for every example, and how
// far apart the probabilities are (0 when the file reproduces the network's arithmetic exactly).
import type { Dataset } from '../data/dataset.js';
import type { Network } from '../model/network.js';
import { agreement } from './agreement.js';
import type { PackedModel } from './packed-runner.js';

export interface PackedCheck {
  examples: number;
  /** Examples where the packed model and the checkpoint predict the same class. */
  agree: number;
  packedAccuracy: number;
  checkpointAccuracy: number;
  /** The largest |p_packed − p_checkpoint| over every example and class. */
  maxProbabilityDifference: number;
}

export function checkPacked(packed: PackedModel, net: Network, data: Dataset): PackedCheck {
  const K = packed.info.classes;
  const classes = new Int32Array(data.count);
  const theirs = new Float32Array(data.count * K);
  packed.predict(data, classes, theirs);
  const ours = new Float32Array(data.count * K);
  net.evaluate(data, undefined, ours);
  let diff = 0;
  for (let i = 0; i < ours.length; i++) diff = Math.max(diff, Math.abs(ours[i] - theirs[i]));
  const a = agreement(net, data, classes);
  return { examples: a.examples, agree: a.agree, packedAccuracy: a.theirs, checkpointAccuracy: a.ours, maxProbabilityDifference: diff };
}
