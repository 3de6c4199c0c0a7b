// CIFAR-shaped synthetic data for memory and speed benchmarks (CIFAR-10 cannot be downloaded
// here): seeded noise images whose class shifts the mean of one colour band, so a network can
// learn something, but accuracy on it means nothing.
import { Rng } from '../rng.js';
import type { DataSplit, Dataset } from './dataset.js';

function make(name: string, count: number, seed: number): Dataset {
  const rng = new Rng(seed);
  const images = new Uint8Array(count * 3072);
  const labels = new Uint8Array(count);
  for (let n = 0; n < count; n++) {
    const label = rng.int(10);
    labels[n] = label;
    for (let p = 0; p < 1024; p++)
      for (let c = 0; c < 3; c++) {
        const band = Math.floor((p / 1024) * 10) === label && c === label % 3 ? 60 : 0;
        images[n * 3072 + p * 3 + c] = Math.min(255, rng.int(196) + band);
      }
  }
  return { name, count, features: 3072, classes: 10, shape: { h: 32, w: 32, c: 3 }, images, labels };
}

export function syntheticCifar(trainCount = 5000, testCount = 1000, seed = 1): DataSplit {
  return { train: make('synthetic-cifar-train', trainCount, seed), test: make('synthetic-cifar-test', testCount, seed + 1) };
}

/**
 * Seeded noise images of any shape (channels-last) for timing a user's model: the class brightens
 * one stripe of rows, so the labels are learnable, but accuracy on it means nothing.
 */
export function syntheticImages(shape: { h: number; w: number; c: number }, classes: number, trainCount: number, testCount: number, seed = 1): DataSplit {
  const features = shape.h * shape.w * shape.c;
  const make = (name: string, count: number, s: number): Dataset => {
    const rng = new Rng(s);
    const images = new Uint8Array(count * features);
    const labels = new Uint8Array(count);
    for (let n = 0; n < count; n++) {
      const label = rng.int(classes);
      labels[n] = label;
      for (let f = 0; f < features; f++) {
        const stripe = Math.floor((Math.floor(f / (shape.w * shape.c)) / shape.h) * classes) === label ? 60 : 0;
        images[n * features + f] = Math.min(255, rng.int(196) + stripe);
      }
    }
    return { name, count, features, classes, shape: { ...shape }, images, labels };
  };
  return { train: make('synthetic-train', trainCount, seed), test: make('synthetic-test', testCount, seed + 1) };
}
