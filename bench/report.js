#!/usr/bin/env node
// Writes BENCHMARKS.md from bench/results/*.json (run.json from bench/run.js plus each benchmark's JSON).
// Nothing here is a number of its own: every value comes from the JSON of the last run.
// usage: node bench/report.js   (after bench/run.js; run.js calls it)
import { existsSync, readFileSync } from 'node:fs';
import { writeFile } from 'node:fs/promises';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const read = (dir, name) => {
  const f = path.join(dir, `${name}.json`);
  return existsSync(f) ? JSON.parse(readFileSync(f, 'utf8')) : null;
};
const fmt = (x, digits = 1) =>
  x === null || x === undefined || Number.isNaN(x)
    ? '—'
    : typeof x === 'number'
      ? String(Math.round(x * 10 ** digits) / 10 ** digits)
      : String(x);
const mark = (pass) => (pass === true ? 'yes' : pass === false ? '**no**' : '—');
const table = (head, rows) =>
  [`| ${head.join(' | ')} |`, `|${head.map(() => '---').join('|')}|`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join(
    '\n',
  );

/** Which benchmarks ran in the last run: a result file from an older run is not shown as this run's. */
function statusOf(run, name) {
  return run?.benches.find((b) => b.name === name) ?? null;
}

function header(run) {
  const m = run.machine;
  return [
    '# Benchmarks',
    '',
    `Produced by \`${run.command}\` (bench/run.js → bench/report.js) from ${run.started_at} to ${run.finished_at}; raw results in \`bench/results/*.json\`.`,
    `This run took ${fmt((Date.parse(run.finished_at) - Date.parse(run.started_at)) / 60000)} min. \`BENCH_QUICK=1 make bench\` is a short pass (shorter runs, fewer rounds, smaller`,
    'repos); `BENCH_ONLY=serving,cold-start,download,fetch-cache-hit,fleet` picks benchmarks; each script runs alone too (usage in its header).',
    run.quick
      ? '\n**BENCH_QUICK=1: short runs and fewer rounds; the numbers are noisier than a full `make bench`.**'
      : '',
    '',
    table(
      ['machine', 'value'],
      [
        ['CPU', `${m.cpu_model}, ${m.cores} cores, ${m.memory_gb} GB RAM, Linux ${m.kernel}`],
        ['load average (1, 5, 15 min) at start', run.loadavg_start.join(', ')],
        ['load average at end', run.loadavg_end.join(', ')],
        ['Node.js / onnxruntime-node / autocannon', `${m.node} / ${m.onnxruntime_node} / ${m.autocannon}`],
        [
          'Python / MLflow / onnxruntime (Python) / huggingface_hub',
          `${m.python} / ${m.mlflow ?? '—'} / ${m.onnxruntime ?? '—'} / ${m.huggingface_hub ?? '—'}`,
        ],
        ['modelctl commit', m.git_commit ?? '—'],
      ],
    ),
    '',
    "The machine is shared with other engineers' builds and tests while this runs: absolute numbers move with the load, so each",
    'comparison is a ratio of the peer and modelctl measured in the same run, interleaved, with medians over rounds.',
    '',
    table(
      ['benchmark', 'script', 'status', 'seconds', 'load (1 min) after'],
      run.benches.map((b) => [
        b.name,
        b.script ? `\`${b.script}\`` : '—',
        b.status === 'missing' ? '**missing**' : b.status === 'ok' ? 'ok' : `**failed** (exit ${b.exit})`,
        fmt(b.seconds),
        fmt(b.loadavg_1m_end, 2),
      ]),
    ),
  ].join('\n');
}

function servingTargets(s) {
  const rows = [];
  for (const m of s?.models ?? []) {
    for (const q of m.ratios.filter((x) => x.connections >= 16)) {
      rows.push([
        `serve ${m.model}: req/s ≥ 10× mlflow at ${q.connections} conn.`,
        ratioText(q.rps_ratio, 2),
        mark(q.rps_ratio == null ? null : q.rps_ratio >= s.targets.rpsRatio),
      ]);
      rows.push([
        `serve ${m.model}: p99 ≤ 0.2× mlflow at ${q.connections} conn.`,
        ratioText(q.p99_ratio, 3),
        mark(q.p99_ratio == null ? null : q.p99_ratio <= s.targets.p99Ratio),
      ]);
    }
  }
  const o = s?.overhead;
  if (o)
    rows.push([
      `serve overhead over raw onnxruntime ≤ 15% (${o.model}, batch ${o.batch})`,
      `${fmt(o.throughput_overhead * 100)}%`,
      mark(o.pass),
    ]);
  return [...rows, ...binaryTargets(o), ...mlserverTargets(s), ...batchingTargets(s)];
}

/** The binary OIP routes (HTTP, gRPC) against raw session.run throughput. */
function binaryTargets(o) {
  return (o?.binary ?? []).map((b) => [
    `serve ${o.model} over binary OIP ${b.route === 'grpc' ? 'gRPC' : 'HTTP'} within 15% of raw onnxruntime`,
    `${fmt(b.overhead * 100)}%`,
    mark(b.pass),
  ]);
}

/** A ratio, or why there is none: a peer that answered no request within its run has no req/s or p99 to divide by. */
function ratioText(ratio, digits) {
  return ratio == null || !Number.isFinite(ratio)
    ? 'no ratio: a server answered no request in the run'
    : `${fmt(ratio, digits)}×`;
}

/** The same req/s and p99 targets against MLServer (OIP v2 JSON on both sides). */
function mlserverTargets(s) {
  const rows = [];
  for (const m of s?.models ?? []) {
    for (const q of (m.mlserver_ratios ?? []).filter((x) => x.connections >= 16)) {
      rows.push([
        `serve ${m.model}: req/s ≥ 10× MLServer at ${q.connections} conn. (OIP v2)`,
        ratioText(q.rps_ratio, 2),
        mark(q.rps_ratio == null ? null : q.rps_ratio >= s.targets.rpsRatio),
      ]);
      rows.push([
        `serve ${m.model}: p99 ≤ 0.2× MLServer at ${q.connections} conn. (OIP v2)`,
        ratioText(q.p99_ratio, 3),
        mark(q.p99_ratio == null ? null : q.p99_ratio <= s.targets.p99Ratio),
      ]);
    }
    if (m.mlserver_error) rows.push([`serve ${m.model}: MLServer peer`, m.mlserver_error, '—']);
  }
  return rows;
}

/** Adaptive batching on vs off (SERVE_MAX_BATCH_SIZE=1) at 64 connections. */
function batchingTargets(s) {
  const rows = [];
  for (const m of s?.models ?? []) {
    for (const b of (m.batching ?? []).filter((x) => x.pass !== null))
      rows.push([
        `serve ${m.model}: req/s with batching ≥ 2× without at ${b.connections} conn.`,
        `${fmt(b.gain, 2)}×`,
        mark(b.pass),
      ]);
  }
  return rows;
}

function coldStartTargets(c) {
  if (!c) return [];
  return [
    ['cold start ≤ 0.1× mlflow models serve', `${fmt(c.ratios.modelctl_vs_mlflow, 3)}×`, mark(c.pass.vs_mlflow)],
    ['cold start ≤ 1.5× bare node script', `${fmt(c.ratios.modelctl_vs_bare, 2)}×`, mark(c.pass.vs_bare)],
  ];
}

function fetchHitTargets(f) {
  if (!f) return [];
  return [['cache-hit fetch ≤ 200 ms (1 GiB, process spawn to exit)', `${fmt(f.median_ms)} ms median`, mark(f.pass)]];
}

function fleetTargets(fl) {
  if (!fl) return [];
  const max = Math.max(...fl.fleets.map((x) => x.agent_peak_rss_mb.max));
  const rows = [
    ['agent RSS ≤ 150 MB (fleet, max over all agents)', `${fmt(max)} MB`, mark(max <= 150)],
    [
      fl.settings.plan_used
        ? 'fleet: agents following the plan make no Hub API call (per node, by N)'
        : 'fleet: Hub API calls per node constant in N',
      fl.fleets.map((x) => `${x.agents}: ${x.api_calls_per_node}`).join(', '),
      mark(fl.settings.plan_used ? fl.fleets.every((x) => x.api_calls_total === 0) : fl.api_calls_per_node_constant),
    ],
  ];
  if (fl.settings.plan_used)
    rows.push([
      'fleet: warm Hub API calls O(models), independent of N',
      fl.fleets.map((x) => `${x.agents}: ${x.warm.api_calls}`).join(', '),
      mark(fl.warm_api_calls_constant),
    ]);
  return rows;
}

function summary(r) {
  const rows = [
    ...servingTargets(r.serving),
    ...coldStartTargets(r['cold-start']),
    ...r.download.flatMap((d) => downloadRatios(d).map(([k, v]) => [k, v.text, mark(v.pass)])),
    ...fetchHitTargets(r['fetch-cache-hit']),
    ...fleetTargets(r.fleet),
  ];
  return ['## Targets', '', table(['target', 'measured', 'met'], rows)].join('\n');
}

/** The download JSON (bench/download.ts): its ratio fields, judged against the issue's targets. */
function downloadRatios(d) {
  const j = d.json;
  const out = [];
  if (typeof j.agent_vs_python === 'number')
    out.push([
      'download ≥ 1.5× huggingface_hub snapshot_download',
      { text: `${fmt(j.agent_vs_python, 2)}×`, pass: j.agent_vs_python >= 1.5 },
    ]);
  if (typeof j.agent_vs_hf_transfer === 'number')
    out.push([
      'download ≥ 1.2× huggingface_hub with hf_transfer',
      { text: `${fmt(j.agent_vs_hf_transfer, 2)}×`, pass: j.agent_vs_hf_transfer >= 1.2 },
    ]);
  if (typeof j.agent_vs_curl_sha256 === 'number')
    out.push([
      'download ≥ 70% of parallel curl piped through sha256 (openssl, SHA-NI) to disk',
      { text: `${fmt(j.agent_vs_curl_sha256 * 100)}%`, pass: j.agent_vs_curl_sha256 >= 0.7 },
    ]);
  const rss = j.rss?.agent_peak_rss_mb;
  if (typeof rss === 'number')
    out.push([`agent RSS ≤ 150 MB (downloading ${fmt(j.rss.gib)} GiB)`, { text: `${fmt(rss)} MB`, pass: rss <= 150 }]);
  return out;
}

function serving(s) {
  if (!s) return '';
  const st = s.settings;
  const parts = [
    '## 1. Serving throughput and latency (`bench/serving.ts`)',
    '',
    `autocannon ${st.seconds} s per measurement, ${st.rounds} round(s), interleaved; medians of the rounds (errors: sum). modelctl serve with`,
    `SERVE_MAX_CONCURRENCY=${st.modelctl_threads} inference threads (adaptive batching at its defaults; \`modelctl-unbatched\`: SERVE_MAX_BATCH_SIZE=1);`,
    `\`mlflow models serve --env-manager local -w ${st.mlflow_workers}\` (uvicorn workers);` +
      (st.mlserver
        ? ` MLServer ${st.mlserver.version ?? ''} (mlserver-mlflow, ${st.mlserver.parallel_workers} parallel workers, adaptive batching max_batch_size ${st.mlserver.max_batch_size}, max_batch_time ${st.mlserver.max_batch_time_s} s).`
        : ''),
    `Load generator: ${st.load_generator}, so it takes CPU from the server under test (every peer alike).`,
    `Loads (1 min) at start/end: ${s.conditions_start.loadavg_1m} / ${s.conditions_end.loadavg_1m}. Server CPU / run-queue wait: seconds the`,
    "modelctl process's threads ran on a CPU / sat runnable waiting for one, per second of the run (/proc/<pid>/task/*/schedstat;",
    'not read for mlflow, whose uvicorn workers are grandchildren of the helper). CPU per request: those seconds (all threads, and',
    "the main thread alone) and the bench process's own (the load generator's, process.cpuUsage) over the requests answered.",
  ];
  for (const m of s.models) {
    parts.push('', `### ${m.model} (batch ${m.batch} rows, body ${fmt(m.body_bytes / 1024)} KiB)`, '');
    const rows = [...m.rows].sort(
      (a, b) => a.connections - b.connections || a.server.localeCompare(b.server) || a.route.localeCompare(b.route),
    );
    parts.push(
      table(
        [
          'connections',
          'server',
          'route',
          'req/s',
          'p50 ms',
          'p99 ms',
          'errors',
          'requests',
          'server CPU s/s',
          'server run-queue wait s/s',
          'CPU ms per request: server (main thread) / load generator',
        ],
        rows.map((x) => [
          x.connections,
          x.server,
          routeText(x.route, m.model),
          fmt(x.rps),
          fmt(x.p50_ms),
          fmt(x.p99_ms),
          x.errors,
          x.requests,
          fmt(x.server_cpu_s_per_s, 2),
          fmt(x.server_runqueue_wait_s_per_s, 2),
          cpuPerRequest(x.cpu_ms_per_request),
        ]),
      ),
    );
    parts.push(
      '',
      table(
        ['connections', 'req/s modelctl ÷ mlflow', 'p99 modelctl ÷ mlflow', 'target met (≥16 conn.)'],
        m.ratios.map((q) => [q.connections, fmt(q.rps_ratio, 2), fmt(q.p99_ratio, 3), mark(q.pass)]),
      ),
    );
    if ((m.mlserver_ratios ?? []).length > 0)
      parts.push(
        '',
        table(
          [
            'connections',
            'req/s modelctl ÷ MLServer (OIP v2 JSON)',
            'p99 modelctl ÷ MLServer',
            'target met (≥16 conn.)',
          ],
          m.mlserver_ratios.map((q) => [q.connections, fmt(q.rps_ratio, 2), fmt(q.p99_ratio, 3), mark(q.pass)]),
        ),
      );
    if (m.mlserver_error) parts.push('', `MLServer: ${m.mlserver_error}`);
    if ((m.batching ?? []).length > 0)
      parts.push(
        '',
        table(
          ['connections', 'req/s batching on', 'req/s batching off', 'on ÷ off', 'target met (64 conn., ≥ 2×)'],
          m.batching.map((b) => [b.connections, fmt(b.rps_on), fmt(b.rps_off), fmt(b.gain, 2), mark(b.pass)]),
        ),
      );
  }
  return parts.join('\n');
}

/** `server (main) / load generator` CPU ms per request; the server's part only where its threads were read. */
function cpuPerRequest(c) {
  if (!c) return '—';
  const server = c.server == null ? '—' : `${fmt(c.server, 3)} (${fmt(c.server_main_thread, 3)})`;
  return `${server} / ${fmt(c.load_generator, 3)}`;
}

function routeText(route, model) {
  if (route === 'v2') return `OIP v2 JSON /v2/models/${model}/infer`;
  if (route === 'v2-binary') return 'OIP v2 binary tensors (HTTP)';
  if (route === 'grpc') return 'OIP v2 gRPC ModelInfer';
  return '/invocations';
}

function overhead(s) {
  const o = s?.overhead;
  if (!o) return '';
  return [
    '## 2. Serving overhead over raw onnxruntime-node (`bench/serving.ts` + `bench/raw-ort.js`)',
    '',
    `Model ${o.model}, batch ${o.batch} rows, ${o.threads} threads. Raw: ${o.threads} worker threads each running \`session.run\` back to back in-process`,
    '(same session options as modelctl serve); modelctl: `/invocations` req/s at the connection count below, from section 1.',
    '',
    table(
      ['measure', 'raw onnxruntime-node', 'modelctl /invocations', 'overhead'],
      [
        [
          `throughput (modelctl at ${o.modelctl.connections} conn.)`,
          `${fmt(o.raw.calls_per_second)} calls/s`,
          `${fmt(o.modelctl.rps)} req/s`,
          `${fmt(o.throughput_overhead * 100)}% more time per request`,
        ],
        [
          'latency p50, one at a time',
          `${fmt(o.raw.single_thread_p50_ms, 3)} ms`,
          `${fmt(o.modelctl.c1_p50_ms)} ms (autocannon, 1 ms resolution)`,
          `+${fmt(o.latency_overhead_ms_c1, 2)} ms`,
        ],
        ...(o.binary ?? []).map((b) => [
          `throughput, ${b.route === 'grpc' ? 'OIP v2 gRPC (raw_input_contents)' : 'OIP v2 binary tensors over HTTP'} at ${o.modelctl.connections} conn.`,
          `${fmt(o.raw.calls_per_second)} calls/s`,
          `${fmt(b.rps)} req/s`,
          `${fmt(b.overhead * 100)}% more time per request`,
        ]),
        ...(o.json_parse
          ? [
              [
                `\`JSON.parse\` of the ${fmt(o.json_parse.body_bytes / 1024)} KiB body alone, one thread (the floor of any JSON server)`,
                `${fmt(o.json_parse.p50_ms, 3)} ms p50`,
                '',
                `${fmt(o.json_parse.vs_session_run * 100)}% of \`session.run\``,
              ],
            ]
          : []),
      ],
    ),
    o.raw.single_thread_mean_ms !== undefined
      ? `\nRaw single-thread mean ${fmt(o.raw.single_thread_mean_ms, 3)} ms (the mean carries the machine's preemption; p50 is the compute).`
      : '',
    profileSection(s.profile, 'CPU profile of modelctl serve under sequential requests (main thread, self time)'),
    // sequential requests may all land on one thread: a thread that ran none has nothing to show
    ...(s.profile?.inference_threads ?? [])
      .filter((t) => t.busy_ms > 0)
      .map((t, i) => profileSection(t, `Inference thread ${i + 1} (self time; waiting for a task left out)`)),
  ].join('\n');
}

function profileSection(p, title) {
  if (!p) return '';
  const rows = p.top.map((t) => [t.name, fmt(t.ms), `${fmt(t.pct)}%`]);
  return ['', `**${title}** — ${p.description}`, '', table(['function / package', 'ms', 'share'], rows)].join('\n');
}

function coldStart(c) {
  if (!c) return '';
  const st = c.settings;
  return [
    '## 3. Cold start (`bench/cold-start.ts`)',
    '',
    `Model ${st.model} on local disk (page cache warm); process spawn → first 200 on \`POST /invocations\` (polled every ${st.poll_ms} ms);`,
    `bare = \`node bench/cold-start-bare.js\` (onnxruntime-node: load, run once, print). ${st.rounds} rounds, interleaved; medians.`,
    `modelctl ${st.modelctl_threads} inference threads; mlflow -w ${st.mlflow_workers}. ${c.note}.`,
    '',
    table(
      ['process', 'median ms', 'runs ms'],
      [
        ['modelctl serve', fmt(c.median_ms.modelctl), c.times_ms.modelctl.join(', ')],
        ['mlflow models serve', fmt(c.median_ms.mlflow), c.times_ms.mlflow.join(', ')],
        ['bare node script', fmt(c.median_ms.bare), c.times_ms.bare.join(', ')],
        ...(c.times_ms.thread_floor
          ? [['bare script on a worker thread', fmt(c.median_ms.thread_floor), c.times_ms.thread_floor.join(', ')]]
          : []),
      ],
    ),
    '',
    `modelctl ÷ mlflow = ${fmt(c.ratios.modelctl_vs_mlflow, 3)} (target ≤ 0.1: ${mark(c.pass.vs_mlflow)}); modelctl ÷ bare = ${fmt(c.ratios.modelctl_vs_bare, 2)} (target ≤ 1.5: ${mark(c.pass.vs_bare)}).`,
    ...(c.times_ms.thread_floor
      ? [
          `The floor of a server whose inference runs off its main thread (\`bench/cold-start-thread-floor.js\`: the bare script's work on a worker thread started first thing; no HTTP, no settings) is ${fmt(c.ratios.thread_floor_vs_bare, 2)}× bare; modelctl ÷ that floor = ${fmt(c.ratios.modelctl_vs_thread_floor, 2)}.`,
        ]
      : []),
    profileSection(c.profile, 'CPU profile of one modelctl serve cold start (main thread, self time by package)'),
    profileSection(c.worker_profile, 'the same start, one inference thread (self time by package)'),
  ].join('\n');
}

function genericTable(json) {
  const rows = [];
  const walk = (obj, prefix) => {
    for (const [k, v] of Object.entries(obj)) {
      if (Array.isArray(v))
        rows.push([
          `${prefix}${k}`,
          v.length > 12
            ? `[${v.length} values]`
            : v.map((x) => (typeof x === 'object' ? JSON.stringify(x) : fmt(x, 2))).join(', '),
        ]);
      else if (v && typeof v === 'object') walk(v, `${prefix}${k}.`);
      else rows.push([`${prefix}${k}`, typeof v === 'number' ? fmt(v, 2) : String(v).replace(/\|/g, '\\|')]);
    }
  };
  walk(json, '');
  return table(['field', 'value'], rows);
}

/** `bench/pyfunc-env.ts`: a pod's start with MODEL_ENV=install and a cached env vs mlflow's virtualenv env-manager. */
function pyfuncEnv(e) {
  if (!e) return '';
  if (e.not_measured)
    return `Pod start with MODEL_ENV=install vs \`mlflow models serve --env-manager virtualenv\`: not measured: ${e.not_measured}.`;
  const ms = (xs) => xs.map((x) => fmt(x)).join(', ');
  return [
    `Pod start with \`MODEL_ENV=install\`, the env cached (\`bench/pyfunc-env.ts\`, iris-sklearn, 1 worker, ${e.conditions.rounds} round(s) interleaved, load ${e.conditions.loadavg_1m}):`,
    `modelctl (fetch finds the env, then serve runs in it; fetch spawn → first 200) ${fmt(e.median_ms.modelctl)} ms (runs ${ms(e.modelctl_ms)}; fetch ${ms(e.modelctl_fetch_ms)} ms)`,
    `vs \`mlflow models serve --env-manager virtualenv\` with a new env root each start, as a pod has (spawn → first 200) ${fmt(e.median_ms.mlflow)} ms`,
    `(runs ${ms(e.mlflow_virtualenv_ms)}; pip began after ${ms(e.mlflow_virtualenv_pip_started_ms)} ms, its server listened after ${ms(e.mlflow_virtualenv_server_listening_ms)} ms):`,
    `mlflow ÷ modelctl ${fmt(e.ratio, 2)}. pip's download cache was warm, so mlflow's figure is a lower bound for a new pod.`,
    `The first modelctl pod, which builds the env (layered on the image's Python), took ${fmt(e.modelctl_env_build_ms)} ms in fetch;`,
    `mlflow restarted with its env kept (one filesystem, not a new pod) ${fmt(e.mlflow_virtualenv_env_kept_ms)} ms.`,
  ].join('\n');
}

/** modelctl's OIP v2 vs MLServer's (mlserver-mlflow, adaptive batching on), same v2 request, same rounds. */
function pyfuncMlserver(p) {
  if (p.mlserver_error !== undefined && !p.mlserver)
    return `Against MLServer with its MLflow runtime: not measured: ${p.mlserver_error ?? 'not in this run'}.`;
  if (!p.mlserver) return '';
  const row = (server, x) =>
    p.rows.find(
      (r) => r.server === server && r.route === 'v2' && r.batch === x.batch && r.connections === x.connections,
    );
  const rows = p.mlserver_ratios.map((x) => {
    const o = row('modelctl', x);
    const m = row('mlserver', x);
    return [
      x.batch,
      x.connections,
      `${fmt(o.rps)} / ${fmt(m.rps)}`,
      fmt(x.rps_ratio, 2),
      `${fmt(o.p99_ms, 1)} / ${fmt(m.p99_ms, 1)}`,
      fmt(x.p99_ratio, 2),
      `${o.errors} / ${m.errors}`,
      `${fmt(o.cpu_ms_per_req, 2)} / ${fmt(m.cpu_ms_per_req, 2)}`,
      fmt(x.cpu_per_req_ratio, 2),
    ];
  });
  const s = p.mlserver.settings;
  const rss = (xs) => (xs.length ? xs.map((x) => fmt(x)).join(', ') : 'n/a');
  return [
    `Against MLServer ${p.mlserver.version} with its MLflow runtime (mlserver-mlflow; parallel_workers ${s.parallel_workers}, adaptive batching max_batch_size ${s.max_batch_size}, max_batch_time ${fmt(s.max_batch_time_s * 1000, 1)} ms),`,
    `over OIP v2 (MLServer has no /invocations): both sent the same v2 request (${p.mlserver.body}), interleaved with the rows above in the same rounds; modelctl as deployed by default. CPU: all of each server's processes (MLServer's main process and its inference workers).`,
    '',
    table(
      [
        'batch',
        'connections',
        'req/s modelctl / MLServer',
        'req/s ratio',
        'p99 ms modelctl / MLServer',
        'p99 ratio',
        'errors',
        'CPU ms/request modelctl / MLServer',
        'CPU ratio',
      ],
      rows,
    ),
    '',
    `Cold start (spawn → first 200 of a v2 infer): MLServer ${fmt(p.cold_start_ms.mlserver)} ms; modelctl ÷ MLServer ${fmt(p.cold_start_ms.ratio_vs_mlserver, 2)}.`,
    `Memory per worker (VmRSS, MB): MLServer inference workers ${rss(p.memory.mlserver_worker_rss_mb)}; modelctl ÷ MLServer (medians) ${fmt(p.memory_ratio_vs_mlserver, 2)}.`,
    ...(p.mlserver_failed_starts?.length
      ? [`MLServer's start failed first (${p.mlserver_failed_starts.join('; ')}); measured on the next try.`]
      : []),
  ].join('\n');
}

function pyfunc(p, env) {
  const title = `## 8. pyfunc runtime vs mlflow models serve and MLServer (\`bench/pyfunc.ts\`, \`bench/pyfunc-env.ts\`)`;
  if (!p) return pyfuncEnv(env) ? [title, '', pyfuncEnv(env)].join('\n') : '';
  // the /invocations rows (results before the MLServer rows have no route)
  const row = (server, x) =>
    p.rows.find(
      (r) =>
        r.server === server &&
        (r.route ?? 'invocations') === 'invocations' &&
        r.batch === x.batch &&
        r.connections === x.connections,
    );
  const rows = p.ratios.map((x) => {
    const server = x.server ?? 'modelctl';
    const o = row(server, x);
    const m = row('mlflow', x);
    return [
      server,
      x.batch,
      x.connections,
      `${fmt(o.rps)} / ${fmt(m.rps)}`,
      `${fmt(x.rps_ratio, 2)} (target ≥ ${p.targets.rpsRatio})`,
      `${fmt(o.p99_ms, 1)} / ${fmt(m.p99_ms, 1)}`,
      `${fmt(x.p99_ratio, 2)} (target ≤ ${p.targets.p99Ratio})`,
      `${o.errors} / ${m.errors}`,
      o.cpu_ms_per_req === undefined ? 'n/a' : `${fmt(o.cpu_ms_per_req, 2)} / ${fmt(m.cpu_ms_per_req, 2)}`,
    ];
  });
  const rss = (xs) => (xs.length ? xs.map((x) => fmt(x)).join(', ') : 'n/a');
  return [
    title,
    '',
    `${p.description}; ${p.conditions.workers} workers each, ${p.conditions.seconds} s runs, ${p.conditions.rounds} round(s), load ${p.conditions.loadavg_1m}.`,
    '',
    `Against \`mlflow models serve\`, POST /invocations (dataframe_split):`,
    '',
    table(
      [
        'modelctl',
        'batch',
        'connections',
        'req/s modelctl / mlflow',
        'req/s ratio',
        'p99 ms modelctl / mlflow',
        'p99 ratio',
        'errors',
        'CPU ms/request modelctl / mlflow',
      ],
      rows,
    ),
    '',
    `Cold start (spawn → first 200): modelctl ${fmt(p.cold_start_ms.modelctl)} ms, mlflow ${fmt(p.cold_start_ms.mlflow)} ms (ratio ${fmt(p.cold_start_ms.ratio, 2)}, target ≤ 1).`,
    `Memory per worker (VmRSS, MB): modelctl pyfunc workers ${rss(p.memory.modelctl_worker_rss_mb)}; mlflow uvicorn workers ${rss(p.memory.mlflow_worker_rss_mb)}.`,
    '',
    pyfuncMlserver(p),
    '',
    pyfuncEnv(env),
  ].join('\n');
}

function download(list) {
  if (list.length === 0) return '';
  return [
    '## 4. Download (`bench/download.*`; its JSON as written)',
    '',
    ...list.map((d) => [`### ${d.name}.json`, '', genericTable(d.json), ''].join('\n')),
  ].join('\n');
}

function fetchHit(f) {
  if (!f) return '';
  return [
    '## 5. Cache-hit fetch (`bench/fetch-cache-hit.js`)',
    '',
    f.description,
    '',
    table(
      ['model bytes', 'runs', 'min ms', 'median ms', 'p90 ms', 'max ms', 'target ms', 'met', 'load (1 min)'],
      [
        [
          f.model_bytes,
          f.runs,
          fmt(f.min_ms),
          fmt(f.median_ms),
          fmt(f.p90_ms),
          fmt(f.max_ms),
          f.target_ms,
          mark(f.pass),
          fmt(f.loadavg_1m, 2),
        ],
      ],
    ),
  ].join('\n');
}

function fleet(fl) {
  if (!fl) return '';
  const planned = fl.settings.plan_used;
  const warmCalls = (w) =>
    `${w.api_calls} (${Object.entries(w.by_endpoint)
      .map(([ep, v]) => `${ep} ${v.requests}`)
      .join(', ')})`;
  const agentCalls = (x) =>
    x.agent_api_calls?.length
      ? x.agent_api_calls.map((c) => `${c.endpoint} ${c.repo} ${c.status}: ${c.count}`).join('; ')
      : '';
  return [
    '## 6. Fleet simulation (`bench/fleet.ts`)',
    '',
    `${fl.description}. Models: ${fl.settings.models.map((m) => `${m.repo} (config.json + ${m.count}×${m.mib} MiB)`).join(', ')}; ${fl.settings.lfs_mib_per_node} MiB of LFS per node.`,
    `Warm plan used: ${planned ? 'yes' : 'no'} — ${fl.plan_note}.`,
    '',
    table(
      [
        'agents (N)',
        'ok',
        ...(planned ? ['warm Hub API calls'] : []),
        'wall s',
        ...(planned ? ['time to ready s (median / max)'] : []),
        planned ? 'agents Hub API calls' : 'Hub API calls',
        'API calls / node',
        'API calls / model / node',
        'file requests',
        'MiB served / node',
        'agent peak RSS MB (median / max)',
        ...(planned ? ['load (1 min) after'] : []),
      ],
      fl.fleets.map((x) => [
        x.agents,
        `${x.ok}/${x.agents}`,
        ...(planned ? [warmCalls(x.warm)] : []),
        fmt(x.wall_s, 2),
        ...(planned
          ? [x.time_to_ready_s ? `${fmt(x.time_to_ready_s.median, 2)} / ${fmt(x.time_to_ready_s.max, 2)}` : '—']
          : []),
        x.api_calls_total,
        fmt(x.api_calls_per_node, 2),
        fmt(x.api_calls_per_model_per_node, 2),
        x.file_requests_total,
        fmt(x.bytes_served_per_node_mib, 2),
        `${fmt(x.agent_peak_rss_mb.median)} / ${fmt(x.agent_peak_rss_mb.max)}`,
        ...(planned ? [fmt(x.loadavg_1m_end, 2)] : []),
      ]),
    ),
    ...fl.fleets
      .filter((x) => agentCalls(x))
      .map((x) => `\nN=${x.agents}: Hub API calls made by the agents (endpoint repo status: count): ${agentCalls(x)}.`),
  ].join('\n');
}

/** Why the serving overhead target is missed: where a large request's time goes. */
function servingOverheadCause(s) {
  const p = s?.profile;
  if (!p || !s.overhead || s.overhead.pass) return [];
  const per = (ms) => fmt(ms / p.requests, 2);
  const threads = p.inference_threads ?? [];
  const top = threads
    .flatMap((t) => t.top)
    .reduce((acc, t) => acc.set(t.fn ?? t.name, (acc.get(t.fn ?? t.name) ?? 0) + t.ms), new Map());
  const topText = [...top.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 5)
    .map(([fn, ms]) => `${fn} ${per(ms)} ms`)
    .join(', ');
  const o = s.overhead;
  return [
    `- **Serving a large body (dense, overhead, dense req/s and p99)**: per ${o.batch}-row request (${p.requests} sequential requests under \`--cpu-prof\`)` +
      ` the inference threads spent ${per(p.inference_busy_ms ?? 0)} ms (top: ${topText}) and the main thread ${per(p.busy_ms)} ms, while` +
      ` \`session.run\` alone takes ${fmt(o.raw.single_thread_p50_ms, 3)} ms (p50).` +
      (o.json_parse
        ? ` Parsing the ${fmt(o.json_parse.body_bytes / 1024)} KiB JSON body alone takes ${fmt(o.json_parse.p50_ms, 3)} ms (${fmt(o.json_parse.vs_session_run * 100)}% of \`session.run\`):` +
          ' on this model no JSON server can come within 15% of raw onnxruntime; on 2 cores every request also pays the CPU of the load generator on the same machine.'
        : ''),
  ];
}

/** Why the binary routes miss raw session.run: the CPU each request cost the server and the load generator. */
function servingBinaryCauses(s) {
  const o = s?.overhead;
  return (o?.binary ?? [])
    .filter((b) => !b.pass && b.cpu_ms_per_request?.server != null)
    .map((b) => {
      const c = b.cpu_ms_per_request;
      return (
        `- **${o.model} over binary OIP ${b.route === 'grpc' ? 'gRPC' : 'HTTP'}** (${fmt(b.rps)} req/s at ${o.modelctl.connections} conn. vs raw ${fmt(o.raw.calls_per_second)} calls/s):` +
        ` per request the server's threads ran ${fmt(c.server, 3)} ms (its main thread ${fmt(c.server_main_thread, 3)} ms) and the load generator` +
        ` ${fmt(c.load_generator, 3)} ms, against \`session.run\`'s ${fmt(o.raw.single_thread_p50_ms, 3)} ms p50 alone; raw \`session.run\` has the ${o.threads} threads'` +
        ` cores to itself, the served model shares them with the ${b.route === 'grpc' ? 'HTTP/2 (grpc-js)' : 'HTTP'} stack, the thread hops and the load generator on the same machine.`
      );
    });
}

/** Why a model misses its req/s or p99 ratio at some concurrency: CPU time and run-queue wait. */
function servingRowCauses(s) {
  const out = [];
  for (const m of s?.models ?? []) {
    for (const q of m.ratios.filter((x) => x.pass === false)) {
      const row = m.rows.find(
        (x) => x.server === 'modelctl' && x.route === 'invocations' && x.connections === q.connections,
      );
      if (row?.server_runqueue_wait_s_per_s == null) continue;
      out.push(
        `- **${m.model} at ${q.connections} connections** (${fmt(row.rps)} req/s, p99 ${fmt(row.p99_ms)} ms vs p50 ${fmt(row.p50_ms)} ms): modelctl's threads ran` +
          ` ${fmt(row.server_cpu_s_per_s, 2)} s/s and waited runnable for a CPU ${fmt(row.server_runqueue_wait_s_per_s, 2)} s/s during the run` +
          (row.cpu_ms_per_request?.server != null
            ? `; CPU ms per request, server (main thread) / load generator: ${cpuPerRequest(row.cpu_ms_per_request)}.`
            : '.'),
      );
    }
  }
  return out;
}

const topFunctions = (profile) =>
  profile.top
    .slice(0, 3)
    .map((t) => `${t.name} ${fmt(t.pct)}%`)
    .join(', ');

function coldStartCause(c) {
  if (!c || c.pass.vs_bare) return [];
  const prof = c.profile ? topFunctions(c.profile) : undefined;
  return [
    `- **Cold start vs the bare script**: modelctl answered its first HTTP request (any status) after a median ${fmt(c.modelctl_listening_median_ms)} ms` +
      ` and its first 200 after ${fmt(c.median_ms.modelctl)} ms; the bare script needed ${fmt(c.median_ms.bare)} ms in all` +
      (c.median_ms.thread_floor
        ? `, and ${fmt(c.median_ms.thread_floor)} ms with its work on a worker thread (${fmt(c.ratios.thread_floor_vs_bare, 2)}× bare: Node's worker start-up alone, before any serving work).`
        : '.') +
      (prof
        ? ` Main-thread self time of one start under \`--cpu-prof\`: ${prof} (of ${fmt(c.profile.busy_ms)} ms busy).`
        : '') +
      (c.worker_profile
        ? ` One inference thread: ${topFunctions(c.worker_profile)} (of ${fmt(c.worker_profile.busy_ms)} ms busy).`
        : ''),
  ];
}

const cpuOf = (x) => (typeof x?.cpu_s_per_gib === 'number' ? `${fmt(x.cpu_s_per_gib, 2)}` : '—');
const runsOf = (x) => (x?.runs_s?.length ? `${fmt(Math.min(...x.runs_s))}–${fmt(Math.max(...x.runs_s))} s` : '—');

/** Which hashing or Python contenders spent more CPU per GiB than the agent, and which not. */
function downloadCpuComparison(j) {
  const peers = [
    ['snapshot_download', j.huggingface_hub],
    ['hf_transfer', j.hf_transfer],
    ['curl | openssl', j.parallel_curl_sha256],
  ].filter(([, x]) => typeof x?.cpu_s_per_gib === 'number');
  const more = peers.filter(([, x]) => x.cpu_s_per_gib > j.agent.cpu_s_per_gib).map(([n]) => n);
  const less = peers.filter(([, x]) => x.cpu_s_per_gib <= j.agent.cpu_s_per_gib).map(([n]) => n);
  return `more than the agent: ${more.join(', ') || 'none'}; as much or less: ${less.join(', ') || 'none'}.`;
}

/** The agent's CPU per GiB on large files alone (the RSS run), against its figure on the mixed repo. */
function downloadLargeFilesCpu(j) {
  if (typeof j.rss?.cpu_s_per_gib !== 'number' || typeof j.agent.cpu_s_per_gib !== 'number') return '';
  const extra = (j.agent.cpu_s_per_gib - j.rss.cpu_s_per_gib) * (j.settings.total_mib / 1024);
  return (
    ` On large files alone (the RSS run: ${fmt(j.rss.gib)} GiB in 512 MiB files) the agent spends ${cpuOf(j.rss)} CPU-s per GiB` +
    ` at ${fmt(j.rss.mib_per_s)} MiB/s; on the mixed repo it spent ${fmt(extra)} CPU-s more per run, of which its start (~0.4 s)` +
    ' and the small files (~0.5 s for 200, measured alone) explain about 1 s; the rest is not explained yet.'
  );
}

function downloadCause(d) {
  const j = d.json;
  if (!j?.agent || !j.huggingface_hub || !j.parallel_curl) return [];
  const missed = downloadRatios(d).filter(([, v]) => !v.pass);
  if (missed.length === 0) return [];
  const mibps = (x) => (x ? `${fmt(x.mib_per_s)} MiB/s` : '—');
  const loads = [j.conditions_start?.loadavg_1m, j.conditions_end?.loadavg_1m];
  const crowded = loads.some((l) => typeof l === 'number' && l > 2 * (j.conditions_start?.cpus ?? 2));
  return [
    `- **Download** (${missed.map(([k]) => k).join('; ')}): agent ${mibps(j.agent)}, huggingface_hub ${mibps(j.huggingface_hub)},` +
      ` hf_transfer ${mibps(j.hf_transfer)}, curl | openssl sha256 ${mibps(j.parallel_curl_sha256)}, curl alone ${mibps(j.parallel_curl)},` +
      ` from a Hub server on the same 2 cores, load average ${fmt(loads[0])} at start, ${fmt(loads[1])} at end; runs: agent` +
      ` ${runsOf(j.agent)}, snapshot_download ${runsOf(j.huggingface_hub)}, hf_transfer ${runsOf(j.hf_transfer)}, curl | openssl` +
      ` ${runsOf(j.parallel_curl_sha256)}. CPU seconds per GiB (user + system, every thread and child): agent ${cpuOf(j.agent)}` +
      ` (hashing every byte; process start and the 200 small files included), snapshot_download ${cpuOf(j.huggingface_hub)} and` +
      ` hf_transfer ${cpuOf(j.hf_transfer)} (neither hashes), curl | tee | openssl ${cpuOf(j.parallel_curl_sha256)}, curl alone` +
      ` ${cpuOf(j.parallel_curl)}; ${downloadCpuComparison(j)}${downloadLargeFilesCpu(j)}` +
      ' Its busy threads are the main thread (reading sockets into slabs), one hash worker (SHA-256 is most of its CPU) and' +
      " libuv's pool (pwrite); snapshot_download runs 8 Python threads, hf_transfer 8 Python threads each driving Rust (tokio)" +
      ' workers over parallel 10 MiB range requests, curl | openssl 8 pipelines of 3 processes.' +
      (crowded
        ? ' With several times more runnable threads than cores, each contender gets CPU by its runnable threads, which' +
          ' favours the ones with more.'
        : '') +
      ` Peak RSS ${fmt(j.rss?.agent_peak_rss_mb)} MB is VmHWM: about 58 MB of it (RssFile) is the node binary's mapped code, the rest the V8 heaps of` +
      ' the main thread and the hash worker, malloc arenas and 8 MiB of slabs (8 files × 2 × 0.5 MiB).',
  ];
}

function fetchHitCause(f) {
  if (!f || f.pass || !f.fetch_only) return [];
  return [
    `- **Cache-hit fetch**: median ${fmt(f.median_ms)} ms through \`./bin/modelctl\`, ${fmt(f.fetch_only.median_ms)} ms from an entry that registers only fetch (\`bench/fetch-only-entry.js\`; see bench/results/fetch-cache-hit.json).`,
  ];
}

/** Where a target is missed: what the measurements of this run say about why (numbers from the JSON only). */
function causes(r) {
  const out = [
    ...servingOverheadCause(r.serving),
    ...servingBinaryCauses(r.serving),
    ...servingRowCauses(r.serving),
    ...coldStartCause(r['cold-start']),
    ...(r.download ?? []).flatMap(downloadCause),
    ...fetchHitCause(r['fetch-cache-hit']),
  ];
  if (out.length === 0) return '';
  return ['## Misses: measured causes', '', ...out].join('\n');
}

const CLUSTER_START = '<!-- bench-e2e:start -->';
const CLUSTER_END = '<!-- bench-e2e:end -->';
const ms = (x) => (x === null || x === undefined ? '—' : String(Math.round(x)));

/** `make bench-e2e` (bench/cold-start-e2e.ts): its own run, its own conditions, its own section. */
function clusterColdStart(c) {
  if (!c) return '';
  const st = c.settings;
  const size = c.image_size?.bytes
    ? `${fmt(c.image_size.bytes / 1e6, 0)} MB (\`docker image inspect\` Size of ${c.image_size.image})`
    : '—';
  const r = c.ratios;
  const targets = [
    ["PVC cache hit: 1 GiB cold start ≤ 1.3× the tiny model's", r.pvc_1g_vs_tiny, c.pass.pvc_size_free],
    ["agent-warmed node cache (hf://): 1 GiB ≤ 1.3× the tiny model's", r.hf_1g_vs_tiny, c.pass.hf_size_free],
    ['PVC cache hit ≥ 5× faster than the MLflow download at 1 GiB', r.mlflow_vs_pvc_1g, c.pass.pvc_5x_mlflow],
    ['node cache ≥ 5× faster than the MLflow download at 1 GiB', r.mlflow_vs_hf_1g, c.pass.hf_5x_mlflow],
  ].map(([k, v, pass]) => [k, v === null ? 'not measured' : `${fmt(v, 2)}×`, mark(pass)]);
  const phaseCols = [
    ['autoscale_to_pod', 'request → pod created (activator, autoscaler, ReplicaSet)'],
    ['scheduling', 'scheduling'],
    ['container_start', 'sandbox + first container start'],
    ['init_fetch', 'init container (fetch)'],
    ['serve_to_model_ready', 'serve container start + model load'],
    ['ready_to_first_200', 'model ready → first 200 (readiness probe, activator, queue-proxy, first inference)'],
  ];
  const s = c.steady_state;
  return [
    CLUSTER_START,
    '## 7. Cold start on the cluster (`make bench-e2e`, `bench/cold-start-e2e.ts`)',
    '',
    `Its own run, not part of \`make bench\`: ${c.started} to ${c.finished}, modelctl ${c.git_commit}; load average (1, 5, 15 min)`,
    `${c.loadavg_start.join(', ')} at start and ${c.loadavg_end.join(', ')} at end, on the 2 cores shared with other engineers' builds and e2e tests.`,
    `The single-node Kubernetes + Knative Serving cluster of \`make cluster\` (Traefik ingress), our image ${st.image}, ${size}.`,
    `Each cold start: the Service at zero pods (per revision ${Object.entries(st.annotations)
      .map(([k, v]) => `\`${k}: ${v}\``)
      .join(', ')}), then`,
    `\`POST /invocations\` through the ingress (\`Host: <service>.${st.namespace}.example.com\`) until the first 200, held by the activator meanwhile.`,
    `${st.runs} measured starts per cell after one priming start (which fills the PVC cache), interleaved over the cells; medians. Before each start the bench waits until no pod of the Service serves and the node has the pod's CPU unrequested (a terminating pod or another test's holds it; that wait is not counted). Every pod: ${st.cores} core (request = limit),`,
    `SERVE_MAX_CONCURRENCY=${st.serve_max_concurrency} (one onnxruntime session), memory ${st.memory_gib.tiny} GiB (tiny) / ${st.memory_gib['embed-1g']} GiB (1 GiB model).`,
    `Models: tiny = the iris ONNX example (${c.models.tiny.bytes} bytes); 1 GiB = an embedding lookup (Gather over a [1048576, 256] float32`,
    `initializer inside model.onnx, ${c.models['embed-1g'].bytes} bytes, which serve memory-maps from the file: \`functions/serve/map-onnx-weights.ts\`),`,
    'both logged into the in-cluster MLflow by `bench/e2e-models.py`.',
    'Sources: MLflow download into an emptyDir (`--storage emptydir`); shared PVC cache hit (`--storage pvc`, second and later starts);',
    "agent-warmed node cache (`hf://`, `--runtime custom` running `serve` on the snapshot in the node's hostPath, no init container).",
    c.hf_note ? `\n**Node cache (hf://) not measured:** ${c.hf_note}.` : '',
    '',
    table(['target', 'measured', 'met'], targets),
    '',
    table(
      ['source', 'model', 'median ms', 'runs ms', 'fetch source'],
      c.cells.map((x) => [x.source, x.model, ms(x.median_ms), x.runs_ms.join(', '), x.fetch_sources.join(', ')]),
    ),
    '',
    "Phases (medians over the runs, ms), from a pod watch (client clock), the pod's status and fetch's and serve's JSON logs (the node is this",
    'machine: one clock). A phase a source does not have is —.',
    '',
    table(
      [
        'source',
        'model',
        ...phaseCols.map(([, label]) => label),
        'total',
        "of which serve's own load (its log: process start → model ready)",
        'warm-up inference (input example)',
      ],
      c.cells.map((x) => [
        x.source,
        x.model,
        ...phaseCols.map(([k]) => ms(x.phases_median_ms[k])),
        ms(x.median_ms),
        ms(x.serve_load_median_ms),
        ms(x.input_example_median_ms),
      ]),
    ),
    ...(s
      ? [
          '',
          `Steady state: one warm pod of the tiny model (min = max scale 1, 1 core), autocannon ${s.connections} connections, ${s.seconds} s × ${s.rounds} round(s) per`,
          `route, interleaved, from this machine; medians. Activator in the path (ServerlessService mode): ${s.activator_mode ?? 'unknown'}.`,
          '',
          table(
            ['route', 'req/s', 'p50 ms', 'p99 ms', 'errors', 'requests', '÷ straight to serve'],
            s.routes.map((x) => [
              x.route === 'ingress'
                ? 'ingress (Traefik → activator/queue-proxy → serve)'
                : x.route === 'queue-proxy'
                  ? 'pod IP :8012 (queue-proxy → serve)'
                  : 'pod IP :8080 (serve)',
              fmt(x.rps),
              fmt(x.p50_ms),
              fmt(x.p99_ms),
              x.errors,
              x.requests,
              fmt(s.vs_pod[x.route], 3),
            ]),
          ),
        ]
      : []),
    clusterCauses(c),
    CLUSTER_END,
  ].join('\n');
}

const cellOf = (c, source, model) => c.cells.find((x) => x.source === source && x.model === model);

/** The two phases that grew most from the tiny model to the 1 GiB one. */
function grewMost(big, tiny) {
  return Object.keys(big.phases_median_ms)
    .filter((k) => k !== 'total' && big.phases_median_ms[k] !== null && tiny.phases_median_ms[k] !== null)
    .map((k) => [k, big.phases_median_ms[k] - tiny.phases_median_ms[k]])
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([k, d]) => `${k} +${ms(d)} ms`)
    .join(', ');
}

/** The two largest phases of a cell. */
function largest(cell) {
  return Object.entries(cell.phases_median_ms)
    .filter(([k, v]) => k !== 'total' && v !== null)
    .sort((a, b) => b[1] - a[1])
    .slice(0, 2)
    .map(([k, v]) => `${k} ${ms(v)} ms`)
    .join(', ');
}

function sizeCause(c, source) {
  const big = cellOf(c, source, 'embed-1g');
  const tiny = cellOf(c, source, 'tiny');
  if (c.pass[`${source}_size_free`] !== false || !big || !tiny) return [];
  return [
    `- **${source}: 1 GiB vs tiny** (${ms(big.median_ms)} vs ${ms(tiny.median_ms)} ms): the phases that grew most: ${grewMost(big, tiny)};` +
      ` serve's own load of the 1 GiB model (process start → model ready, its log) ${ms(big.serve_load_median_ms)} ms vs ${ms(tiny.serve_load_median_ms)} ms.`,
  ];
}

function speedCause(c, source) {
  const mlflow = cellOf(c, 'mlflow', 'embed-1g');
  const fast = cellOf(c, source, 'embed-1g');
  if (c.pass[`${source}_5x_mlflow`] !== false || !mlflow || !fast) return [];
  return [
    `- **MLflow vs ${source} at 1 GiB** (${ms(mlflow.median_ms)} vs ${ms(fast.median_ms)} ms): the MLflow path's init container (fetch downloading 1 GiB from the` +
      ` in-cluster MLflow into the emptyDir) takes ${ms(mlflow.phases_median_ms.init_fetch)} ms; the ${source} start's largest phases: ${largest(fast)}.`,
  ];
}

function probeCause(c) {
  const tiny = cellOf(c, 'hf', 'tiny');
  const big = cellOf(c, 'hf', 'embed-1g');
  if (!(tiny?.phases_median_ms.ready_to_first_200 > 2000)) return [];
  return [
    `- **hf: model ready → first 200** is ${ms(tiny.phases_median_ms.ready_to_first_200)} ms even for the tiny model: the custom runtime's startup and` +
      ' readiness probes (functions/deploy/render-runtime.ts) see the server ready that long after it is.' +
      (big
        ? ` It weighs on both hf starts, so the hf 1 GiB ÷ tiny ratio above says little: serve's own load is ${ms(big.serve_load_median_ms)} ms (1 GiB) vs ${ms(tiny.serve_load_median_ms)} ms (tiny).`
        : ''),
  ];
}

/** Where the time of a missed cluster target went: the cells' phase medians compared (numbers from the JSON only). */
function clusterCauses(c) {
  const out = [
    ...sizeCause(c, 'pvc'),
    ...sizeCause(c, 'hf'),
    ...probeCause(c),
    ...speedCause(c, 'pvc'),
    ...speedCause(c, 'hf'),
  ];
  return out.length ? ['', '**Misses, measured causes:**', '', ...out].join('\n') : '';
}

/** Replaces (or appends) only the cluster section of `<root>/BENCHMARKS.md`: `make bench-e2e` leaves the rest. */
export async function writeClusterSection({ root, resultsDir }) {
  const file = path.join(root, 'BENCHMARKS.md');
  const md = existsSync(file) ? readFileSync(file, 'utf8') : '# Benchmarks\n';
  const section = clusterColdStart(read(resultsDir, 'cold-start-e2e')).replace(/\n{3,}/g, '\n\n');
  const start = md.indexOf(CLUSTER_START);
  const end = md.indexOf(CLUSTER_END);
  const next =
    start >= 0 && end > start
      ? `${md.slice(0, start)}${section}${md.slice(end + CLUSTER_END.length)}`
      : `${md.trimEnd()}\n\n${section}\n`;
  await writeFile(file, next);
}

/** Reads the results and writes `<root>/BENCHMARKS.md`. */
export async function writeReport({ root, resultsDir }) {
  const run = read(resultsDir, 'run');
  if (!run) throw new Error('bench/results/run.json is missing: run `make bench`');
  const ran = (name) => statusOf(run, name)?.status === 'ok';
  const r = {
    serving: ran('serving') ? read(resultsDir, 'serving') : null,
    'cold-start': ran('cold-start') ? read(resultsDir, 'cold-start') : null,
    'fetch-cache-hit': ran('fetch-cache-hit') ? read(resultsDir, 'fetch-cache-hit') : null,
    fleet: ran('fleet') ? read(resultsDir, 'fleet') : null,
    pyfunc: ran('pyfunc') ? read(resultsDir, 'pyfunc') : null,
    pyfuncEnv: ran('pyfunc-env') ? read(resultsDir, 'pyfunc-env') : null,
    download: ran('download')
      ? (statusOf(run, 'download').results ?? [])
          .map((name) => ({ name, json: read(resultsDir, name) }))
          .filter((d) => d.json)
      : [],
  };
  const md = [
    header(run),
    '',
    summary(r),
    '',
    serving(r.serving),
    '',
    overhead(r.serving),
    '',
    coldStart(r['cold-start']),
    '',
    download(r.download),
    '',
    fetchHit(r['fetch-cache-hit']),
    '',
    fleet(r.fleet),
    '',
    pyfunc(r.pyfunc, r.pyfuncEnv),
    '',
    causes(r),
    '',
    clusterColdStart(read(resultsDir, 'cold-start-e2e')),
  ]
    .filter((x) => x !== undefined)
    .join('\n')
    .replace(/\n{3,}/g, '\n\n');
  await writeFile(path.join(root, 'BENCHMARKS.md'), `${md.trim()}\n`);
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  const benchDir = path.dirname(fileURLToPath(import.meta.url));
  await writeReport({ root: path.resolve(benchDir, '..'), resultsDir: path.join(benchDir, 'results') });
  console.log('wrote BENCHMARKS.md');
}
