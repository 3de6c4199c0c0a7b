// Loads i2c-bus (and its native addon). A separate module so the single-executable bundler can
// swap it for a static require that bundles i2c-bus with the executable's own addon.
import { createRequire } from 'node:module';

export function loadI2cBus(): unknown {
  return createRequire(import.meta.url)('i2c-bus');
}
