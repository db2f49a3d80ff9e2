#!/usr/bin/env node
// Renders what `make render|deploy|deploy-warmer` installs: reads kustomize's output of config/<env> on stdin and
// writes it with the models config as the one place of every warmer setting (functions/deploy/render-install.ts):
// overrides IMAGE_PROXY, CHECK_INTERVAL_SECONDS, CONFIG_READ_RETRY_DELAY_SECONDS, MLFLOW_TRACKING_URI, HF_TOKEN from
// the environment (make passes NAME=value through); --warmer keeps only the node warmer (no Knative object).
// Needs `make build` (it runs the compiled module from dist/). Exit 1 with one line per problem.
import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseAllDocuments, stringify } from 'yaml';

const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..');
const { renderInstall } = await import(path.join(root, 'dist/functions/deploy/render-install.js')).catch(() => {
  process.stderr.write('render: dist/ is missing: run `make build` first\n');
  process.exit(1);
});
const objects = parseAllDocuments(readFileSync(0, 'utf8'))
  .map((doc) => doc.toJS())
  .filter((o) => o !== null);
try {
  const env = process.env;
  const { objects: out, notes } = renderInstall({
    objects,
    warmerOnly: process.argv.includes('--warmer'),
    overrides: {
      IMAGE_PROXY: env.IMAGE_PROXY,
      CHECK_INTERVAL_SECONDS: env.CHECK_INTERVAL_SECONDS,
      CONFIG_READ_RETRY_DELAY_SECONDS: env.CONFIG_READ_RETRY_DELAY_SECONDS,
      MLFLOW_TRACKING_URI: env.MLFLOW_TRACKING_URI,
      HF_TOKEN: env.HF_TOKEN,
    },
  });
  const head = notes.map((n) => `# ${n}\n`).join('');
  process.stdout.write(head + out.map((o) => stringify(o, { lineWidth: 0 })).join('---\n'));
} catch (err) {
  process.stderr.write(`render: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
}
