/** Types of the plain-JS jest reporter beside this file (loaded by jest without a transform). */
export default class PeerLogReporter {
  constructor(globalConfig: unknown, options?: { lines?: number });
  onTestResult(test: unknown, result: { numFailingTests: number; testExecError?: unknown; testFilePath: string }): void;
}
