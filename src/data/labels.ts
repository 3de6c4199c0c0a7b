// Class labels of a user's data: integers 0..K-1, or names (a CSV column of words, image folders)
// numbered in the order they first appear. A test source uses the training source's numbering.
import { DataFileError } from './idx.js';

export const MAX_CLASSES = 256;

export class LabelCoder {
  private readonly index = new Map<string, number>();
  private labels = new Uint8Array(1024);
  count = 0;

  /** `known`: the training source's class names (a test source may not add classes). */
  constructor(private readonly known?: string[]) {
    known?.forEach((name, i) => {
      this.index.set(name, i);
    });
  }

  /** Record one example's label; `where` names it in errors ("file.csv line 12"). */
  add(raw: string, where: string): void {
    const name = raw.trim();
    if (name === '') throw new DataFileError(`${where}: the label is empty`);
    let code = this.index.get(name);
    if (code === undefined) {
      if (this.known) throw new DataFileError(`${where}: label "${name}" is not one of the training classes (${this.describeKnown()})`);
      if (this.index.size >= MAX_CLASSES) throw new DataFileError(`${where}: label "${name}" makes more than ${MAX_CLASSES} classes`);
      code = this.index.size;
      this.index.set(name, code);
    }
    if (this.count === this.labels.length) {
      const grown = new Uint8Array(this.labels.length * 2);
      grown.set(this.labels);
      this.labels = grown;
    }
    this.labels[this.count++] = code;
  }

  private describeKnown(): string {
    const names = [...this.index.keys()];
    return names.length > 12 ? `${names.slice(0, 12).join(', ')}, ...` : names.join(', ');
  }

  /**
   * The labels and class names. Names that are all whole numbers 0..255 are used as the class
   * numbers themselves (so "0".."9" are classes 0..9, whatever order they appear in).
   */
  finish(): { labels: Uint8Array; classes: number; classNames: string[] } {
    const names = [...this.index.keys()];
    const labels = this.labels.slice(0, this.count);
    const numeric = !this.known && names.every((n) => /^\d{1,3}$/.test(n) && Number(n) < MAX_CLASSES);
    if (!numeric) return { labels, classes: this.known?.length ?? names.length, classNames: this.known ?? names };
    const value = names.map(Number);
    for (let i = 0; i < labels.length; i++) labels[i] = value[labels[i]];
    const classes = Math.max(...value) + 1;
    return { labels, classes, classNames: Array.from({ length: classes }, (_, i) => String(i)) };
  }
}
