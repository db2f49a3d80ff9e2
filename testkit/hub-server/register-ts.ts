/**
 * Lets Node 24 run this folder's TypeScript directly (type stripping) although imports name `./x.js`, as
 * the rest of the repo (compiled by tsc/swc) does: a `./x.js` that does not exist resolves to `./x.ts`.
 *   node --import ./testkit/hub-server/register-ts.ts testkit/hub-server/main.ts …
 */
import { registerHooks } from 'node:module';

registerHooks({
  resolve(specifier, context, nextResolve) {
    try {
      return nextResolve(specifier, context);
    } catch (err) {
      if (!specifier.startsWith('.') || !specifier.endsWith('.js')) throw err;
      return nextResolve(`${specifier.slice(0, -3)}.ts`, context);
    }
  },
});
