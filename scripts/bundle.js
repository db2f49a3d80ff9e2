// Bundles the CLI into dist/bundle/ with esbuild, after tsc has compiled dist/ (npm run build runs both).
// Why: a start of `modelctl serve` spent most of its main-thread time in Node's module loader resolving and
// compiling hundreds of small files (express, zod, prom-client, pino, yaml, commander); one code-split bundle
// loads only the chunks a role needs, each read once. ./bin/modelctl and the image run dist/bundle/modelctl.js.
// Packages that find files beside their own sources at run time, or carry native code, stay in node_modules:
// - piscina: starts its worker from its own folder, and the inference worker reads `workerData` from it
// - onnxruntime-node, fs-ext-extra-prebuilt: native add-ons
// - @kubernetes/client-node, @huggingface/hub, undici, cloudevents: other roles' clients, left as they were
import { build } from 'esbuild';
import { copyFileSync, existsSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { isBuiltin } from 'node:module';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const outdir = path.join(root, 'dist', 'bundle');
const EXTERNAL = [
  'piscina',
  'onnxruntime-node',
  'fs-ext-extra-prebuilt',
  '@kubernetes/client-node',
  '@huggingface/hub',
  'undici',
  'cloudevents',
];

/**
 * zod's `z.locales` namespace (zod/v4/locales/index.js: 63 languages, 361 KB of the 755 KB zod chunk) reduced to the
 * English locale, the one zod registers by default (classic/schemas.js imports locales/en.js itself). Why: every
 * role parses its env with zod first thing, and `import { z }` loads the whole namespace, so each start read and
 * set up every language for nothing; the serve start waited ~4 ms longer for its first inference thread (issue
 * 16). modelctl never calls z.config(z.locales.xx()); such a call would find the language undefined.
 */
const zodEnglishOnly = {
  name: 'zod-english-only',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/locales\/index\.js$/ }, (args) =>
      /[\\/]node_modules[\\/]zod[\\/]v4[\\/](classic|core|mini)[\\/]/.test(args.importer)
        ? { path: path.join(path.dirname(args.importer), '..', 'locales', 'en.js'), namespace: 'zod-locales' }
        : undefined,
    );
    b.onLoad({ filter: /.*/, namespace: 'zod-locales' }, (args) => ({
      contents: `export { default as en } from ${JSON.stringify(args.path)};`,
      loader: 'js',
      resolveDir: path.dirname(args.path),
    }));
  },
};

rmSync(outdir, { recursive: true, force: true });
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    modelctl: 'cli/modelctl.ts',
    // inference-pool.ts starts it as ./inference-worker.js beside its own module: every chunk is in outdir
    'inference-worker': 'functions/serve/inference-worker.ts',
    // hash-pool.ts starts it as ./hash-worker.js beside its own module (the agent's and fetch's blob hashing)
    'hash-worker': 'shared/hub/hash-worker.ts',
  },
  outdir,
  entryNames: '[name]',
  chunkNames: '[name]-[hash]',
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'node',
  target: 'node24',
  external: EXTERNAL,
  // CommonJS dependencies (express, pino…) call require() for node's own modules
  banner: {
    js: "import { createRequire as __modelctlRequire } from 'node:module';\nconst require = __modelctlRequire(import.meta.url);",
  },
  plugins: [zodEnglishOnly],
  sourcemap: true,
  metafile: true,
  logLevel: 'warning',
});

// The chunk holding each pool must sit beside its worker's entry (the pool resolves it from import.meta.url).
const outputs = Object.entries(result.metafile.outputs).filter(([file]) => file.endsWith('.js'));
for (const [poolSource, worker] of [
  ['functions/serve/start-inference-threads.ts', 'inference-worker.js'],
  ['shared/hub/hash-pool.ts', 'hash-worker.js'],
]) {
  const pool = outputs.find(([, o]) => Object.keys(o.inputs).some((i) => i.endsWith(poolSource)));
  if (!pool || path.dirname(path.resolve(root, pool[0])) !== outdir || !existsSync(path.join(outdir, worker)))
    throw new Error(`bundle: ${poolSource} is not bundled beside ${worker}`);
}

// The chunks that only define code (not the entries, not the chunk that runs the CLI): the image build imports
// them once so the compile cache holds every role's code (scripts/warm-compile-cache.js).
const ENTRIES = ['cli/modelctl.ts', 'functions/serve/inference-worker.ts', 'shared/hub/hash-worker.ts', 'cli/main.ts'];
const runsOnLoad = (o) => ENTRIES.some((entry) => o.entryPoint === entry || entry in o.inputs);
const chunks = outputs
  .filter(([, o]) => !runsOnLoad(o))
  .map(([file]) => path.basename(file))
  .sort();
// the packages left in node_modules that the bundle does import (warmed too)
const external = [
  ...new Set(outputs.flatMap(([, o]) => o.imports.filter((i) => i.external && !isBuiltin(i.path)).map((i) => i.path))),
].sort();
writeFileSync(path.join(outdir, 'chunks.json'), `${JSON.stringify({ chunks, external }, null, 2)}\n`);
copyFileSync(path.join(root, 'scripts', 'warm-compile-cache.js'), path.join(outdir, 'warm-compile-cache.js'));
// The pyfunc runtime's Python worker (functions/serve/pyfunc/load-pyfunc-model.ts finds it beside its chunk)
const pyfuncDir = path.join(root, 'functions', 'serve', 'pyfunc');
for (const file of readdirSync(pyfuncDir).filter((f) => f.endsWith('.py')))
  copyFileSync(path.join(pyfuncDir, file), path.join(outdir, file));
// The gRPC service definition (functions/serve/grpc/start-grpc-server.ts loads it beside its chunk)
copyFileSync(
  path.join(root, 'functions', 'serve', 'grpc', 'grpc_predict_v2.proto'),
  path.join(outdir, 'grpc_predict_v2.proto'),
);
