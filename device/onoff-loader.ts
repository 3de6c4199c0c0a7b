// Loads onoff (and, through it, the epoll native addon). A separate module so the single-executable
// bundler can swap it for a static require that bundles onoff with the executable's own addon.
import { createRequire } from 'node:module';

export function loadOnoff(): unknown {
  return createRequire(import.meta.url)('onoff');
}
