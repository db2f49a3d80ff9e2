import { describe, expect, it } from '@jest/globals';
import { status } from '@grpc/grpc-js';
import { EventEmitter } from 'node:events';
import { Registry } from 'prom-client';
import { createRequestMetrics } from '../../../shared/http/request-metrics.js';
import { createLogger } from '../../../shared/log/create-logger.js';
import {
  codeWhenCancelled,
  createGrpcCallMetrics,
  DEADLINE_SLACK_MS,
  grpcCodeName,
  trackCall,
} from './call-metrics.js';

describe('grpcCodeName', () => {
  it('names codes as gRPC spells them, an unknown one by its number', () => {
    expect([0, 1, 3, 4, 5, 8, 13, 14].map(grpcCodeName)).toEqual([
      'OK',
      'CANCELLED',
      'INVALID_ARGUMENT',
      'DEADLINE_EXCEEDED',
      'NOT_FOUND',
      'RESOURCE_EXHAUSTED',
      'INTERNAL',
      'UNAVAILABLE',
    ]);
    expect(grpcCodeName(99)).toBe('99');
  });
});

describe('codeWhenCancelled', () => {
  it('is DEADLINE_EXCEEDED once the client deadline has passed or is within the slack, else CANCELLED', () => {
    expect(codeWhenCancelled(Infinity, 1000)).toBe(status.CANCELLED);
    expect(codeWhenCancelled(new Date(1000 + DEADLINE_SLACK_MS + 1), 1000)).toBe(status.CANCELLED);
    expect(codeWhenCancelled(new Date(1000 + DEADLINE_SLACK_MS), 1000)).toBe(status.DEADLINE_EXCEEDED);
    expect(codeWhenCancelled(new Date(1000), 1000)).toBe(status.DEADLINE_EXCEEDED);
    expect(codeWhenCancelled(999, 1000)).toBe(status.DEADLINE_EXCEEDED);
  });
});

function fakeCall(deadline: Date | number = Infinity) {
  return Object.assign(new EventEmitter(), { getDeadline: () => deadline });
}

describe('trackCall', () => {
  it('counts each call once, by method and code, in flight until it ends', async () => {
    const registry = new Registry();
    const metrics = createGrpcCallMetrics({ registry, role: 'serve' });
    const log = createLogger({ name: 'test', level: 'silent' });
    const params = { metrics, log, level: 'debug' as const, service: 'inference.GRPCInferenceService' };
    const answered = fakeCall();
    const cancelled = fakeCall();
    const late = fakeCall(new Date(Date.now() - 1));
    const endAnswered = trackCall(answered, { ...params, method: 'ModelInfer' });
    const endCancelled = trackCall(cancelled, { ...params, method: 'ModelInfer' });
    trackCall(late, { ...params, method: 'ModelReady' });
    expect((await registry.getSingleMetric('modelctl_serve_grpc_requests_in_flight')!.get()).values[0]!.value).toBe(3);

    endAnswered(status.NOT_FOUND);
    answered.emit('cancelled'); // grpc-js says it after the answer too: not a second end
    cancelled.emit('cancelled');
    endCancelled(status.CANCELLED); // the handler's own end after the cancel: ignored
    late.emit('cancelled');

    const counts = (await registry.getSingleMetric('modelctl_serve_grpc_requests_total')!.get()).values;
    expect(counts.map((v) => [v.labels.grpc_method, v.labels.grpc_code, v.value])).toEqual([
      ['ModelInfer', 'NOT_FOUND', 1],
      ['ModelInfer', 'CANCELLED', 1],
      ['ModelReady', 'DEADLINE_EXCEEDED', 1],
    ]);
    expect(counts.every((v) => v.labels.grpc_service === 'inference.GRPCInferenceService')).toBe(true);
    expect((await registry.getSingleMetric('modelctl_serve_grpc_requests_in_flight')!.get()).values[0]!.value).toBe(0);
  });
});

describe('createRequestMetrics (HTTP), on the shared family code', () => {
  it('keeps its metric names, help texts and labels', async () => {
    const registry = new Registry();
    const metrics = createRequestMetrics({ registry, role: 'serve' });
    metrics.started();
    metrics.ended('/invocations', 'POST', 200, 0.002);
    const text = await registry.metrics();
    expect(text).toContain(
      '# HELP modelctl_serve_http_requests_total HTTP requests answered, by route, method and status',
    );
    expect(text).toContain('modelctl_serve_http_requests_total{route="/invocations",method="POST",status="200"} 1');
    expect(text).toContain(
      '# HELP modelctl_serve_http_request_duration_seconds HTTP request latency, by route, method and status',
    );
    expect(text).toContain(
      'modelctl_serve_http_request_duration_seconds_bucket{le="0.0025",route="/invocations",method="POST",status="200"} 1',
    );
    expect(text).toContain('# HELP modelctl_serve_http_requests_in_flight HTTP requests being handled');
    expect(text).toContain('modelctl_serve_http_requests_in_flight 0');
  });
});
