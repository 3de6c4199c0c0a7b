import { createRequire } from 'node:module';
import { bundled } from './runtime/bundle.js';

export const VERSION: string = (() => {
  if (bundled) return bundled.version;
  try {
    return (createRequire(import.meta.url)('../../package.json') as { version: string }).version;
  } catch {
    return 'unknown';
  }
})();
