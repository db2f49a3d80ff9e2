import type { HubAccess } from '../../shared/hub/hub-fetch.js';
import type { HubRetryPolicy } from '../../shared/hub/with-hub-retry.js';
import type { ConfigMaps } from '../../shared/k8s/config-maps.js';
import type { RecordEvent } from '../../shared/k8s/record-event.js';
import type { WarmMetrics } from './warm-metrics.js';

/** Everything the warm function talks to, passed in (tests give the real peers). */
export interface WarmDeps {
  configMaps: ConfigMaps;
  recordEvent: RecordEvent;
  hub: HubAccess;
  metrics: WarmMetrics;
  /** namespace of the models ConfigMap and the plan */
  namespace: string;
  /** @default modelctl-models */
  modelsConfigMap: string;
  /** @default modelctl-plan */
  planConfigMap: string;
  /** models resolved at once @default 4 */
  concurrency?: number;
  retry?: HubRetryPolicy;
  /** CloudEvent `source` of the replies @default /modelctl/warm */
  replySource?: string;
}

/** The type of the CloudEvent warm replies with. */
export const WARM_PLANNED_TYPE = 'dev.modelctl.warm.planned';
