// The built-in models, written as model definitions (the form of a model file), and the lookup
// `--model` uses: a built-in name, or the path of a JSON model file.
import { describeQuant, type QuantConfig } from '../../quant/quant-config.js';
import { own } from '../own.js';
import { loadModelFile, ModelDefinitionError, parseModelDefinition, type ModelDefinition } from './definition.js';
import type { ModelSpec } from './spec.js';

const conv = (filters: number, padding: 'valid' | 'same' = 'valid') => ({ type: 'conv' as const, filters, padding });
const pool = { type: 'maxpool' as const };
const dense = (units: number) => ({ type: 'dense' as const, units });
const cifar = { height: 32, width: 32, channels: 3 };

export const BUILTIN_DEFINITIONS: Record<string, ModelDefinition> = {
  // docs/method.md §2: 784 -> 4 x [FC256-BN-sign] -> FC10-BN; 399,872 weights.
  mlp: { name: 'mlp', input: { features: 784 }, classes: 10, layers: [dense(256), dense(256), dense(256), dense(256)] },
  // CIFAR-10, valid padding: C64 C64 MP2 C128 C128 MP2 C256 C256 FC512 FC512 FC10
  cnv: {
    name: 'cnv',
    input: cifar,
    classes: 10,
    layers: [conv(64), conv(64), pool, conv(128), conv(128), pool, conv(256), conv(256), dense(512), dense(512)],
  },
  // CIFAR-10, same padding, pool before BN: C128 C128-MP2 C256 C256-MP2 C512 C512-MP2 FC1024 FC1024 FC10
  binarynet: {
    name: 'binarynet',
    input: cifar,
    classes: 10,
    layers: [
      conv(128, 'same'),
      conv(128, 'same'),
      pool,
      conv(256, 'same'),
      conv(256, 'same'),
      pool,
      conv(512, 'same'),
      conv(512, 'same'),
      pool,
      dense(1024),
      dense(1024),
    ],
    poolBeforeBatchNorm: true,
  },
  // a small conv net for MNIST: C32 C32 MP2 C64 C64 MP2 FC256 FC10 (valid padding)
  'mnist-conv': {
    name: 'mnist-conv',
    input: { height: 28, width: 28, channels: 1 },
    classes: 10,
    layers: [conv(32), conv(32), pool, conv(64), conv(64), pool, dense(256)],
  },
};

export const MODELS: Record<string, ModelSpec> = Object.fromEntries(
  Object.entries(BUILTIN_DEFINITIONS).map(([name, def]) => [name, parseModelDefinition(def, `built-in model ${name}`)]),
);

/** Whether `--model` names a file rather than a built-in model. */
export function isModelFile(model: string): boolean {
  return !own(MODELS, model) && (model.endsWith('.json') || model.includes('/'));
}

/**
 * A built-in model by name, or a model file by path; `quant` (--quant) makes a built-in or a
 * binary model file fixed-point. A file that sets its own precision takes no --quant.
 */
export function modelSpec(model: string, quant?: QuantConfig): ModelSpec {
  const builtin = own(MODELS, model);
  let spec: ModelSpec;
  if (builtin) spec = builtin;
  else if (isModelFile(model)) spec = loadModelFile(model);
  else throw new ModelDefinitionError(`unknown model "${model}" (available: ${Object.keys(MODELS).join(', ')}, or the path of a JSON model file)`);
  if (!quant) return spec;
  if (spec.quant) throw new ModelDefinitionError(`model file ${model} sets its precision (${describeQuant(spec.quant)}): leave out --quant, or edit the file`);
  return { ...spec, quant };
}

/** "mlp", or "mlp w4a8 msqe+stable=0.5" for a fixed-point variant. */
export function modelLabel(spec: ModelSpec): string {
  return spec.quant ? `${spec.name} ${describeQuant(spec.quant)}` : spec.name;
}
