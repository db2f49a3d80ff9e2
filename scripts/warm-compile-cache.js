// Fills Node's compile cache (NODE_COMPILE_CACHE, else the OS temp folder) with modelctl's code, so the next
// start of any role reads V8 code instead of compiling it. The image build runs it (npm run warm-compile-cache)
// as the uid that runs modelctl: the cache is kept per Node version and uid. bundle.js copies this file into
// dist/bundle/ beside chunks.json, which lists the chunks that only define code.
// Importing a chunk compiles it (that is what gets cached) and runs only its definitions; the CLI itself is then
// run once with --version for its entry and commander chunk.
import { readFileSync } from 'node:fs';
import module from 'node:module';

const cache = module.enableCompileCache();
if (!cache.directory) throw new Error(`warm-compile-cache: the compile cache is off: ${cache.message ?? 'unknown'}`);
const here = new URL('./', import.meta.url);
const { chunks, external } = JSON.parse(readFileSync(new URL('chunks.json', here), 'utf8'));
for (const chunk of chunks) await import(new URL(chunk, here).href);
for (const name of external) await import(name);
module.flushCompileCache();
console.log(`warm-compile-cache: ${chunks.length} chunks and ${external.length} packages cached in ${cache.directory}`);
process.argv = [process.argv[0], 'modelctl', '--version'];
await import(new URL('modelctl.js', here).href);
