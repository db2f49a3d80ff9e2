#!/usr/bin/env node
// The executable entry (bin, image ENTRYPOINT): turns on Node's on-disk compile cache before any other module
// is loaded, so a start reads V8 code from the cache instead of compiling modelctl and its dependencies again
// (the image ships the cache warmed; NODE_COMPILE_CACHE picks the folder, NODE_DISABLE_COMPILE_CACHE=1 turns it
// off). Kept apart from main.ts because static imports are evaluated before a module's own code.
import module from 'node:module';

const cache = module.enableCompileCache?.();
// worker threads (the inference pool) and child processes only use the cache through the environment
if (cache?.directory && !process.env.NODE_COMPILE_CACHE) process.env.NODE_COMPILE_CACHE = cache.directory;

// `modelctl serve` without flags (the image's start: the role named by the environment) has nothing for commander
// to read: it serves without loading commander and every command's definitions (cold start, issue 16)
const { isServeWithoutFlags } = await import('./default-role.js');
if (isServeWithoutFlags(process.argv.slice(2), process.env)) {
  const { serveAction } = await import('./commands/serve-action.js');
  await serveAction({});
} else {
  await import('./main.js');
}
