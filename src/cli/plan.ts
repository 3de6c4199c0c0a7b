// `bitlearn plan`: what batch fits a memory budget, per recipe, and what each knob saves.
import { Command } from 'commander';
import { MODELS, modelLabel, modelSpec } from '../model/models.js';
import { precisionKind } from '../model/spec.js';
import { knobSavings, planBatches, scopeCosts } from '../planner.js';
import { parseTrainScope, SCOPE_HELP } from '../model/train-scope.js';
import { PRESETS, resolveRecipe } from '../recipe.js';
import { formatTable, mib } from '../report/table.js';
import { parseBytes, UnitError } from '../units.js';
import { WASM_ARENA_LIMIT_BYTES, wasmAvailable } from '../kernels/wasm.js';
import { collect, positiveInt, quantFromOptions, quantOptions } from './options.js';

export function planCommand(): Command {
  const cmd = new Command('plan')
    .description('largest batch that fits a memory budget, per recipe, and what each recipe knob saves (from the memory model)')
    .option('--model <name|file.json>', `model: ${Object.keys(MODELS).join(', ')}, or a JSON model file (docs/models.md)`, 'mlp')
    .requiredOption('--ram <size>', 'memory for the engine, e.g. 512MiB, 1.5GB')
    .option('--recipe <preset|file.json>', 'plan only this recipe (default: every preset)')
    .option('--set <knob=value>', 'override one knob of --recipe (repeatable)', collect, [])
    .option('--batch <n>', 'batch size for the knob and --train tables (default: the largest batch standard fits, at least 1)', positiveInt)
    .option('--train <scope>', `plan a partial update: ${SCOPE_HELP} (default all; binary models)`, 'all')
    .option('--json', 'print the plan as JSON');
  return quantOptions(cmd).action(async (o, cmd: Command) => {
    try {
      o.ram = await parseBytes(o.ram);
    } catch (e) {
      if (!(e instanceof UnitError)) throw e;
      cmd.error(`error: option '--ram <size>' argument '${o.ram}' is invalid. ${e.message}`); // a usage error: exit code 2
    }
    const quant = quantFromOptions(o, cmd);
    const spec = modelSpec(o.model, quant);
    // fixed-point layers take the standard recipe's storage (dy, moments and firstInput can change)
    // fixed-point layers train with the standard recipe's storage; partial updates and the knob table are for binary layers
    const kind = precisionKind(spec);
    const presets = kind === 'fixed' ? { standard: PRESETS.standard } : PRESETS;
    const recipes = o.recipe ? (({ name, recipe }) => ({ [name]: recipe }))(resolveRecipe(o.recipe, o.set)) : presets;
    // the WebAssembly kernels keep every engine buffer in one memory of at most 2 GiB
    const kernelLimit = wasmAvailable() ? WASM_ARENA_LIMIT_BYTES : null;
    const budget = Math.min(o.ram, kernelLimit ?? Infinity);
    const batches = planBatches(spec, recipes, budget, parseTrainScope(o.train));
    const knobBatch = o.batch ?? Math.max(1, planBatches(spec, { standard: PRESETS.standard }, budget)[0].largestBatch);
    const knobs = kind === 'fixed' ? [] : knobSavings(spec, knobBatch);
    // what each partial update costs, in the recipe asked for (else low-memory)
    const scopeRecipe = o.recipe ? Object.entries(recipes)[0] : (['low-memory', PRESETS['low-memory']] as const);
    const scopes = kind !== 'binary' ? [] : scopeCosts(spec, scopeRecipe[1], knobBatch, budget, ['all', 'head', 'last:2', 'bn']);
    if (o.json) {
      const plan = {
        model: spec.name,
        ramBytes: o.ram,
        kernelLimitBytes: kernelLimit,
        trainScope: o.train,
        batches,
        knobs: { batch: knobBatch, savings: knobs },
        scopes: { recipe: scopeRecipe[0], batch: knobBatch, costs: scopes },
      };
      process.stdout.write(`${JSON.stringify(plan, null, 2)}\n`);
      return;
    }
    process.stdout.write(
      `${[
        `bitlearn plan: ${modelLabel(spec)} in ${mib(o.ram)} (engine buffers, from the memory model; Node.js and the data set come on top)`,
        ...(kernelLimit !== null && o.ram > kernelLimit
          ? [`the WebAssembly kernels hold at most ${mib(kernelLimit)} of engine buffers: batches are planned within that`]
          : []),
        '',
        formatTable(
          ['recipe', 'largest batch', 'memory at that batch', 'fixed (batch-independent)'],
          batches.map((b) => [b.recipe, b.largestBatch || 'does not fit', b.largestBatch ? mib(b.bytesAtLargest) : '-', mib(b.fixedBytes)]),
        ),
        ...(scopes.length
          ? [
              '',
              `What each --train choice costs, ${scopeRecipe[0]} recipe at batch ${knobBatch}:`,
              formatTable(
                ['--train', 'memory', 'of training all', `largest batch in ${mib(o.ram)}`],
                scopes.map((c) => [c.scope, mib(c.bytes), `${(100 * c.fractionOfAll).toFixed(1)}%`, c.largestBatch || 'does not fit']),
              ),
            ]
          : []),
        ...(knobs.length
          ? [
              '',
              `What each knob saves alone, from the standard recipe at batch ${knobBatch}:`,
              formatTable(
                ['knob', 'standard', 'low-memory', 'saves', 'share'],
                knobs.map((k) => [k.knob, k.from, k.to, mib(k.savedBytes), `${(100 * k.savedFraction).toFixed(1)}%`]),
              ),
            ]
          : []),
      ].join('\n')}\n`,
    );
  });
}
