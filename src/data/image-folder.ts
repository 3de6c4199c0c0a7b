// Image folders: DIR/<class>/<image>.png|.jpg|.jpeg, one subfolder per class (sorted by name:
// class 0 is the first). Decoded by pngjs and jpeg-js (pure JavaScript, so the single executables
// carry them), resized to the model's input by area averaging (bilinear when enlarging), and
// turned to grayscale (luma) or RGB: uint8 pixels, as MNIST and CIFAR-10 are held.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import type { Dataset } from './dataset.js';
import { DataFileError } from './idx.js';
import { MAX_CLASSES } from './labels.js';

const IMAGE = /\.(png|jpe?g)$/i;
/** Larger images than this are refused before decoding (a 64-megapixel photo is not a training example here). */
const MAX_PIXELS = 1 << 26;

/** The decoders, loaded when a folder is first read: pngjs alone adds ~9 MiB to a process that never reads an image. */
type Decoders = { png: typeof import('pngjs'); jpeg: typeof import('jpeg-js') };
async function loadDecoders(): Promise<Decoders> {
  const [png, jpeg] = await Promise.all([import('pngjs'), import('jpeg-js')]);
  return { png: png.default ?? png, jpeg: jpeg.default ?? jpeg };
}

export interface ImageFolderOptions {
  shape: { h: number; w: number; c: number };
  /** Prediction inputs: a folder of images without class folders is taken too (every label 0). */
  unlabeled?: boolean;
  /** The training folder's class names (a test folder must have the same classes). */
  classNames?: string[];
}

/**
 * The image shape a model's input stands for: its own where it has 1 or 3 channels; for a vector
 * model (1x1xN, such as the MNIST MLP) the square grayscale (or else RGB) image of N pixels, which
 * is how its training images were flattened.
 */
export function imageShapeOf(shape: { h: number; w: number; c: number }, dir: string): { h: number; w: number; c: number } {
  const { h, w, c } = shape;
  if (c === 1 || c === 3) return shape;
  if (h === 1 && w === 1)
    for (const ch of [1, 3]) {
      const side = Math.round(Math.sqrt(c / ch));
      if (side * side * ch === c) return { h: side, w: side, c: ch };
    }
  throw new DataFileError(`${dir}: images become 1 (grayscale) or 3 (RGB) channels; the model takes ${h}x${w}x${c}, which is no image`);
}

export async function readImageFolder(dir: string, opts: ImageFolderOptions): Promise<Images> {
  opts = { ...opts, shape: imageShapeOf(opts.shape, dir) };
  let entries: string[];
  try {
    entries = readdirSync(dir).filter((e) => !e.startsWith('.'));
  } catch (e) {
    throw new DataFileError(`${dir}: cannot read the folder (${(e as NodeJS.ErrnoException).code ?? (e as Error).message})`);
  }
  const classes = entries.filter((e) => statSync(join(dir, e)).isDirectory()).sort();
  if (!classes.length && opts.unlabeled) return flatFolder(dir, entries, opts.shape, await loadDecoders());
  if (!classes.length) throw new DataFileError(`${dir}: no class folders (expected ${dir}/<class>/<image>.png or .jpg)`);
  if (classes.length > MAX_CLASSES) throw new DataFileError(`${dir}: ${classes.length} class folders, at most ${MAX_CLASSES}`);
  if (opts.classNames && classes.join('\u0000') !== opts.classNames.join('\u0000'))
    throw new DataFileError(`${dir}: class folders ${classes.join(', ')} differ from the training folder's ${opts.classNames.join(', ')}`);
  const files: { path: string; label: number }[] = [];
  let skipped = 0;
  classes.forEach((name, label) => {
    const folder = join(dir, name);
    const all = readdirSync(folder).filter((f) => !f.startsWith('.'));
    const images = all.filter((f) => IMAGE.test(f)).sort();
    skipped += all.length - images.length;
    if (!images.length) throw new DataFileError(`${folder}: no .png or .jpg images in class folder "${name}"`);
    for (const f of images) files.push({ path: join(folder, f), label });
  });
  return decodeAll(dir, files, opts.shape, classes, skipped, await loadDecoders());
}

type Images = Dataset & { classNames: string[]; skipped: number; files: string[] };

function decodeAll(
  dir: string,
  files: { path: string; label: number }[],
  shape: ImageFolderOptions['shape'],
  classes: string[],
  skipped: number,
  decoders: Decoders,
): Images {
  const { h, w, c } = shape;
  const n = h * w * c;
  const pixels = new Uint8Array(files.length * n);
  const labels = new Uint8Array(files.length);
  files.forEach((f, i) => {
    const rgba = decode(f.path, decoders);
    resizeInto(rgba, h, w, c, pixels, i * n);
    labels[i] = f.label;
  });
  return {
    name: dir,
    count: files.length,
    features: n,
    classes: classes.length,
    shape: { h, w, c },
    images: pixels,
    labels,
    classNames: classes,
    skipped,
    files: files.map((f) => f.path),
  };
}

/** The images of one folder, sorted by name, unlabeled. */
function flatFolder(dir: string, entries: string[], shape: ImageFolderOptions['shape'], decoders: Decoders): Images {
  const images = entries.filter((f) => IMAGE.test(f)).sort();
  if (!images.length) throw new DataFileError(`${dir}: no .png or .jpg images`);
  return decodeAll(
    dir,
    images.map((f) => ({ path: join(dir, f), label: 0 })),
    shape,
    [],
    entries.length - images.length,
    decoders,
  );
}

interface Rgba {
  width: number;
  height: number;
  data: Uint8Array;
}

function decode(path: string, { png: pngjs, jpeg }: Decoders): Rgba {
  const bytes = readFileSync(path);
  try {
    if (/\.png$/i.test(path)) {
      const png = pngjs.PNG.sync.read(bytes);
      checkSize(path, png.width, png.height);
      return { width: png.width, height: png.height, data: png.data };
    }
    const img = jpeg.decode(bytes, { useTArray: true, formatAsRGBA: true, maxMemoryUsageInMB: 1024, maxResolutionInMP: MAX_PIXELS / 1e6 });
    checkSize(path, img.width, img.height);
    return img;
  } catch (e) {
    if (e instanceof DataFileError) throw e;
    throw new DataFileError(`${path}: cannot decode the image (${String((e as Error).message ?? e).split('\n')[0]})`);
  }
}

function checkSize(path: string, width: number, height: number): void {
  if (!(width > 0 && height > 0)) throw new DataFileError(`${path}: an image of ${width}x${height} pixels`);
  if (width * height > MAX_PIXELS) throw new DataFileError(`${path}: ${width}x${height} pixels is too large an image`);
}

/**
 * The image scaled to h × w into out[offset ..] (channels-last): each output pixel is the mean of
 * the source area it covers, or bilinear between the nearest source pixels when enlarging; 1
 * channel = luma (0.299 R + 0.587 G + 0.114 B), 3 = RGB; alpha is ignored.
 */
export function resizeInto(img: Rgba, h: number, w: number, c: number, out: Uint8Array, offset: number): void {
  const sy = img.height / h;
  const sx = img.width / w;
  const channel = new Float64Array(3);
  for (let y = 0; y < h; y++)
    for (let x = 0; x < w; x++) {
      channel.fill(0);
      if (sy >= 1 && sx >= 1) {
        // area average over the source pixels [y0, y1) × [x0, x1)
        const y0 = Math.floor(y * sy);
        const y1 = Math.max(y0 + 1, Math.floor((y + 1) * sy));
        const x0 = Math.floor(x * sx);
        const x1 = Math.max(x0 + 1, Math.floor((x + 1) * sx));
        for (let v = y0; v < y1; v++) for (let u = x0; u < x1; u++) for (let k = 0; k < 3; k++) channel[k] += img.data[(v * img.width + u) * 4 + k];
        const count = (y1 - y0) * (x1 - x0);
        for (let k = 0; k < 3; k++) channel[k] /= count;
      } else {
        const fy = Math.min(img.height - 1, Math.max(0, (y + 0.5) * sy - 0.5));
        const fx = Math.min(img.width - 1, Math.max(0, (x + 0.5) * sx - 0.5));
        const [v0, u0] = [Math.floor(fy), Math.floor(fx)];
        const [v1, u1] = [Math.min(img.height - 1, v0 + 1), Math.min(img.width - 1, u0 + 1)];
        const [ay, ax] = [fy - v0, fx - u0];
        for (let k = 0; k < 3; k++) {
          const at = (v: number, u: number) => img.data[(v * img.width + u) * 4 + k];
          channel[k] = (1 - ay) * ((1 - ax) * at(v0, u0) + ax * at(v0, u1)) + ay * ((1 - ax) * at(v1, u0) + ax * at(v1, u1));
        }
      }
      const o = offset + (y * w + x) * c;
      if (c === 1) out[o] = Math.round(0.299 * channel[0] + 0.587 * channel[1] + 0.114 * channel[2]);
      else for (let k = 0; k < 3; k++) out[o + k] = Math.round(channel[k]);
    }
}
