// Sizes on the command line and in reports, through mathjs units ("512MiB", "1.5 GB", "2e6 B").
// mathjs is loaded on first use: importing it costs ~80 MiB of RSS, which a training run on a
// small device should not pay for a feature it does not use.

export class UnitError extends Error {}

/** Bytes in a size such as "512MiB"; a bare number is bytes. */
export async function parseBytes(text: string): Promise<number> {
  const t = text.trim();
  let bytes: number;
  if (/^[\d.]+(e[+-]?\d+)?$/i.test(t)) bytes = Number(t);
  else {
    try {
      const { unit } = await import('mathjs');
      bytes = unit(t.replace(/^([\d.]+(?:e[+-]?\d+)?)\s*/i, '$1 ')).toNumber('B');
    } catch (e) {
      throw new UnitError(`"${text}" is not a size (examples: 512MiB, 1.5GB, 300000): ${(e as Error).message}`);
    }
  }
  if (!Number.isFinite(bytes) || bytes <= 0) throw new UnitError(`"${text}" is not a positive size`);
  return Math.floor(bytes);
}
