import { describe, expect, it } from '@jest/globals';
import { readiness } from './wait-for-ready.js';

const unschedulable = 'Revision "iris-v1" failed with message: 0/1 nodes are available: 1 Insufficient cpu.';

/** A Knative Service's status as the controller writes it (shape from a real cluster, issue 17). */
function service(conditions: { type: string; status: string; reason?: string; message?: string }[], generation = 1) {
  return {
    metadata: { generation: 1 },
    status: { observedGeneration: generation, url: 'http://iris.ns.example.com', conditions },
  };
}

describe('readiness of a Knative Service', () => {
  it('is ready when Ready is True for the current generation', () => {
    expect(readiness(service([{ type: 'Ready', status: 'True' }]))).toEqual({
      ready: true,
      url: 'http://iris.ns.example.com',
    });
  });

  it('is not ready while the controller has not seen the current generation', () => {
    expect(readiness(service([{ type: 'Ready', status: 'True' }], 0))).toEqual({
      ready: false,
      failed: false,
      detail: undefined,
    });
  });

  it("names the Revision's failure (ConfigurationsReady), not Ready's RevisionMissing", () => {
    const verdict = readiness(
      service([
        { type: 'ConfigurationsReady', status: 'False', reason: 'RevisionFailed', message: unschedulable },
        {
          type: 'Ready',
          status: 'False',
          reason: 'RevisionMissing',
          message: 'Configuration "iris" does not have any ready Revision.',
        },
      ]),
    );
    expect(verdict).toEqual({ ready: false, failed: true, detail: `RevisionFailed: ${unschedulable}` });
  });

  it("keeps Ready's own reason while it is Unknown (still deploying)", () => {
    const verdict = readiness(
      service([
        { type: 'ConfigurationsReady', status: 'Unknown', reason: 'RevisionMissing' },
        { type: 'Ready', status: 'Unknown', reason: 'RevisionMissing', message: 'waiting' },
      ]),
    );
    expect(verdict).toEqual({ ready: false, failed: false, detail: 'RevisionMissing: waiting' });
  });
});
