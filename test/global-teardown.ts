/** Ends every peer started by global setup (by pid) and removes its temp dirs. */
export default async function globalTeardown(): Promise<void> {
  await globalThis.__modelctlPeerRun?.stopAll();
}
