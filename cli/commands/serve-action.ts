/**
 * What `modelctl serve` does once its flags are read (`overrides`: the flags' variables, laid over the
 * environment). Apart from serve.ts, which imports commander: a serve start without flags runs this without
 * loading commander (cli/modelctl.ts).
 */
export async function serveAction(overrides: Record<string, string>): Promise<void> {
  const env = { ...process.env, ...overrides };
  // the replaced runtime's contract: MLFLOW_MODEL_URI alone (no MODEL_LOCAL_PATH) downloads, then serves
  // (fetch's code loads only then: a server of a local model starts as fast as before)
  if (!env.MODEL_LOCAL_PATH && /^(models|runs|mlflow-artifacts):/.test(env.MLFLOW_MODEL_URI?.trim() ?? '')) {
    const { fetchForServe } = await import('../../functions/fetch/fetch-for-serve.js');
    try {
      overrides.MODEL_LOCAL_PATH = await fetchForServe(env);
    } catch (err) {
      process.stderr.write(`modelctl serve: ${(err as Error).message}\n`);
      process.exit(1);
    }
  }
  // imported when the command runs: `modelctl --help` and the other roles stay light
  const { runServe } = await import('../../functions/serve/index.js');
  await runServe(overrides);
}
