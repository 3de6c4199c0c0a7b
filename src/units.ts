// Sizes on the command line and in reports, through mathjs units ("512MiB", "1.5 GB", "2e6 B").
import { unit } from 'mathjs';

export class UnitError extends Error {}

/** Bytes in a size such as "512MiB"; a bare number is bytes. */
export function parseBytes(text: string): number {
  const t = text.trim();
  let bytes: number;
  if (/^[\d.]+(e[+-]?\d+)?$/i.test(t)) bytes = Number(t);
  else {
    try {
      bytes = unit(t.replace(/^([\d.]+(?:e[+-]?\d+)?)\s*/i, '$1 ')).toNumber('B');
    } catch (e) {
      throw new UnitError(`"${text}" is not a size (examples: 512MiB, 1.5GB, 300000): ${(e as Error).message}`);
    }
  }
  if (!Number.isFinite(bytes) || bytes <= 0) throw new UnitError(`"${text}" is not a positive size`);
  return Math.floor(bytes);
}
