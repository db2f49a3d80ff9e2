// Steady-state `POST /invocations` req/s on the cluster (bench/cold-start-e2e.ts): one warm pod of the tiny model
// reached three ways, interleaved: through the whole Knative path (Traefik ingress → activator when in the path →
// queue-proxy → serve), straight to the pod's queue-proxy (port 8012), and straight to serve in the pod (8080).
import autocannon from 'autocannon';
import { getJson } from '../testkit/e2e/cluster.js';
import { log, median, round } from './bench-kit.js';

export interface RouteResult {
  route: 'ingress' | 'queue-proxy' | 'pod';
  url: string;
  rps: number;
  p50_ms: number;
  p99_ms: number;
  errors: number;
  requests: number;
  runs: number[];
}

interface Target {
  route: RouteResult['route'];
  url: string;
  headers: Record<string, string>;
}

/** The one Ready pod of the Service and its IP; throws unless exactly one serves. */
export async function onlyPodIp(namespace: string, service: string): Promise<string> {
  const pods = await getJson<{ items: { metadata: { deletionTimestamp?: string }; status: { podIP?: string } }[] }>(
    'pods',
    '-n',
    namespace,
    '-l',
    `serving.knative.dev/service=${service}`,
  );
  const live = pods.items.filter((p) => p.metadata.deletionTimestamp === undefined && p.status.podIP);
  if (live.length !== 1) throw new Error(`expected one pod of ${service}, found ${live.length}`);
  return live[0]!.status.podIP!;
}

async function once(t: Target, body: string, connections: number, seconds: number) {
  const r = await autocannon({
    url: t.url,
    method: 'POST',
    headers: { 'content-type': 'application/json', ...t.headers },
    body,
    connections,
    duration: seconds,
    timeout: 30,
  });
  return { rps: r.requests.average, p50: r.latency.p50, p99: r.latency.p99, errors: r.errors + r.non2xx, n: r['2xx'] };
}

/** Each route `rounds` times, interleaved; medians of req/s, p50 and p99, errors summed. */
export async function measureRoutes(params: {
  ingress: string;
  host: string;
  podIp: string;
  body: string;
  connections: number;
  seconds: number;
  rounds: number;
}): Promise<RouteResult[]> {
  const targets: Target[] = [
    { route: 'ingress', url: `${params.ingress}/invocations`, headers: { host: params.host } },
    { route: 'queue-proxy', url: `http://${params.podIp}:8012/invocations`, headers: { host: params.host } },
    { route: 'pod', url: `http://${params.podIp}:8080/invocations`, headers: {} },
  ];
  const samples = new Map(targets.map((t) => [t.route, [] as Awaited<ReturnType<typeof once>>[]]));
  for (let round_ = 0; round_ < params.rounds; round_++) {
    for (const t of targets) {
      const s = await once(t, params.body, params.connections, params.seconds);
      log(`rps ${t.route}: ${round(s.rps)} req/s, p99 ${s.p99} ms, errors ${s.errors}`);
      samples.get(t.route)!.push(s);
    }
  }
  return targets.map((t) => {
    const xs = samples.get(t.route)!;
    return {
      route: t.route,
      url: t.url,
      rps: round(median(xs.map((x) => x.rps))),
      p50_ms: round(median(xs.map((x) => x.p50)), 2),
      p99_ms: round(median(xs.map((x) => x.p99)), 2),
      errors: xs.reduce((n, x) => n + x.errors, 0),
      requests: xs.reduce((n, x) => n + x.n, 0),
      runs: xs.map((x) => round(x.rps)),
    };
  });
}
