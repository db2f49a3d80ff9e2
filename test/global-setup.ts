import { PeerRun } from '../testkit/peers/peer-run.js';

declare global {
  var __modelctlPeerRun: PeerRun | undefined;
}

/**
 * Starts every peer of the testing ground once per run and publishes their coordinates
 * (read in tests with `readPeers()`). A peer that cannot start fails the run, naming it.
 */
export default async function globalSetup(): Promise<void> {
  const run = await PeerRun.create();
  globalThis.__modelctlPeerRun = run;
  try {
    const starts: Promise<void>[] = [
      // each peer's start function registers here: (await import('../testkit/peers/x.js')).startX(run)
      import('../testkit/peers/kube.js').then((m) => m.startKube(run)),
      import('../testkit/peers/hub.js').then((m) => m.startHub(run)),
      import('../testkit/peers/mlflow.js').then((m) => m.startMlflow(run)),
    ];
    await Promise.all(starts);
  } catch (err) {
    await run.stopAll();
    throw err;
  }
  run.publish();
}
