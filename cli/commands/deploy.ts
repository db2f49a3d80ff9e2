import { Option, type Command } from 'commander';

/** Repeatable flags collect into a list. */
const collect = (v: string, prev: string[] = []): string[] => [...prev, v];

/** Keys of the run mode, not of the rendered Service. */
const MODE_KEYS = ['dryRun', 'output', 'wait', 'waitTimeout', 'fieldManager', 'forceConflicts', 'kubeconfig'];

/**
 * `modelctl deploy`: render a model's Knative Service (init `fetch`, main `serve`) and server-side apply it.
 * Defaults and validation live in functions/deploy/deploy-options.ts; the help shows them.
 */
export function registerDeployCommand(program: Command): void {
  program
    .command('deploy')
    .description(
      'render and server-side apply the Knative Service of a model: MLflow models (init container model-downloader, ' +
        'container model-server) or warmed hf:// models on an LLM runtime (vLLM, TGI, custom)',
    )
    .requiredOption('--serve-name <name>', 'Knative Service name (DNS-1035 label)')
    .requiredOption(
      '--model-uri <uri>',
      'models:/<name>/<version|stage>, models:/<name>@<alias>, runs:/…, mlflow-artifacts:/…, hf://<org>/<name>[@rev]',
    )
    .option(
      '--artifact-version <v>',
      'names the Revision <serve-name>-<v> and labels it modelctl.dev/artifact-version, for traffic splits',
    )
    .addOption(
      new Option(
        '--runtime <runtime>',
        'modelctl (ONNX) or pyfunc (python image) for MLflow models; vllm, tgi or custom for warmed hf:// models',
      ).choices(['modelctl', 'pyfunc', 'vllm', 'tgi', 'custom']),
    )
    .option('--port <n>', "LLM runtimes: the server's port (Knative sets PORT to it; default: 8080)")
    .option('--arg <arg>', 'LLM runtimes: extra server argument, appended (repeatable)', collect)
    .option('--readiness-path <path>', "LLM runtimes: startup/readiness probe path (default: the runtime's, /health)")
    .option('--max-model-len <tokens>', 'LLM runtimes: longest sequence (vLLM --max-model-len, TGI --max-total-tokens)')
    .addOption(
      new Option('--dtype <dtype>', 'LLM runtimes: weights dtype (vLLM/TGI --dtype)').choices([
        'auto',
        'half',
        'float16',
        'bfloat16',
        'float',
        'float32',
      ]),
    )
    .option('--served-model-name <name>', 'LLM runtimes: the model name clients send (default: the repo id)')
    .option(
      '--command <word>',
      "custom runtime with --node-affinity preferred: the image's entrypoint, one word per flag (repeatable)",
      collect,
    )
    .option(
      '--plan-namespace <ns>',
      'namespace of the warm plan and the cluster settings `make deploy` records (default: modelctl-system)',
    )
    .option('--cores <n>', 'CPU cores requested and limited (default: 1)')
    .option('--memory <GiB>', 'memory in GiB, requested and limited (default: 2)')
    .option('--gpu <n>', 'GPUs (limits.<gpu-resource>) plus a NoSchedule toleration for them (default: 0)')
    .option('--gpu-type <type>', 'node label value of the GPU type, e.g. nvidia-l4 (nodeSelector on --gpu-type-label)')
    .option('--gpu-type-label <key>', 'node label carrying the GPU type (default: cloud.google.com/gke-accelerator)')
    .option('--gpu-resource <name>', 'extended resource of a GPU (default: nvidia.com/gpu)')
    .option('-n, --namespace <ns>', "target namespace (default: the kubeconfig context's, else default)")
    .option('--min-scale <n>', 'autoscaling.knative.dev/min-scale; 0 scales to zero (default: 0)')
    .option('--max-scale <n>', 'autoscaling.knative.dev/max-scale')
    .option('--initial-scale <n>', 'autoscaling.knative.dev/initial-scale')
    .option(
      '--scale-to-zero-retention <duration>',
      'autoscaling.knative.dev/scale-to-zero-pod-retention-period, e.g. 10m',
    )
    .option('--concurrency <n>', 'containerConcurrency: requests in flight per pod, 0 = unlimited')
    .option('--timeout <seconds>', 'request timeout (timeoutSeconds and the scoring server timeout)')
    .addOption(
      new Option('--storage <strategy>', 'where fetch puts the model (default: emptydir)').choices(['emptydir', 'pvc']),
    )
    .option(
      '--cache-pvc <name>',
      'shared cache PVC for --storage pvc, in the target namespace (default: modelctl-model-cache)',
    )
    .option('--model-size <GiB>', 'model size: sizes the emptyDir and the progress deadline (600 s + 60 s/GiB)')
    .option(
      '--progress-deadline <duration>',
      'serving.knative.dev/progress-deadline (default: from --model-size, else 1200s)',
    )
    .addOption(
      new Option(
        '--node-affinity <mode>',
        'hf:// models: nodes whose agent reports the model ready (default: required)',
      ).choices(['required', 'preferred']),
    )
    .option(
      '--node-host-path <dir>',
      "agents' node cache folder, the seed's nodeHostPath (default: /mnt/stateful_partition/kube-ephemeral-ssd)",
    )
    .option('--node-cache-path <dir>', 'cache folder under --node-host-path: HF_HUB_CACHE (default: huggingface/hub)')
    .option(
      '--mlflow-tracking-uri <uri>',
      'MLFLOW_TRACKING_URI of both containers, reachable from the pods (no credentials in it); default: ' +
        'MLFLOW_TRACKING_URI of your environment, else the one `make deploy MLFLOW_TRACKING_URI=…` recorded',
    )
    .option(
      '--mlflow-secret <name>',
      'Secret with MLFLOW_TRACKING_USERNAME/PASSWORD/TOKEN keys, referenced (never copied)',
    )
    .option('--hf-token-secret <name>', 'Secret with an HF_TOKEN key, referenced (never copied)')
    .option('--service-account <name>', 'serviceAccountName of the pods')
    .option('--env <K=V>', 'extra environment variable of both containers (repeatable)', collect)
    .option(
      '--image <ref>',
      "the server's image (default: modelctl:<this CLI's version>, -python for pyfunc, the pinned vLLM/TGI images, " +
        "behind the models config's imageProxy); required for custom",
    )
    .addOption(
      new Option('--dry-run [mode]', 'client: print the Service and stop; server: server-side dry-run apply')
        .choices(['client', 'server'])
        .preset('client'),
    )
    .addOption(new Option('-o, --output <format>', 'print the Service as yaml or json').choices(['yaml', 'json']))
    .option('--wait', 'wait until the Service is Ready, then print its URL')
    .option('--wait-timeout <seconds>', 'how long --wait waits', '600')
    .option('--field-manager <name>', 'server-side apply field manager', 'modelctl')
    .option('--force-conflicts', 'take over fields another field manager owns')
    .option('--kubeconfig <file>', 'kubeconfig (default: KUBECONFIG, ~/.kube/config, in-cluster)')
    .addHelpText(
      'after',
      '\nExample: modelctl deploy --serve-name my-model --model-uri models:/my-model/Production --artifact-version v1 \\\n' +
        '           --cores 4 --memory 8 --mlflow-secret mlflow-credentials --wait\n' +
        '         modelctl deploy --serve-name qwen --model-uri hf://Qwen/Qwen2.5-0.5B-Instruct --runtime vllm --gpu 1\n' +
        'The pod spec needs Knative config-features flags (listed in the modelctl.dev/required-features annotation);\n' +
        '`make deploy` enables them. Exit code 1 with one message when anything fails.',
    )
    .action(async (opts: Record<string, unknown>) => {
      const flags = Object.fromEntries(Object.entries(opts).filter(([key]) => !MODE_KEYS.includes(key)));
      // imported when the command runs: `modelctl --help` and the other roles stay light
      const { runDeploy } = await import('../../functions/deploy/index.js');
      await runDeploy({
        flags,
        kubeconfigPath: opts.kubeconfig as string | undefined,
        mode: {
          dryRun: opts.dryRun === undefined ? false : (opts.dryRun as 'client' | 'server'),
          output: opts.output as 'yaml' | 'json' | undefined,
          waitTimeoutMs: opts.wait === true ? Number(opts.waitTimeout) * 1000 : undefined,
          fieldManager: opts.fieldManager as string,
          forceConflicts: opts.forceConflicts === true,
        },
      });
    });
}
