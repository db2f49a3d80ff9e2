// An inference thread: loads its own onnxruntime session once and runs it on request.
// onnxruntime-node's `run()` is synchronous under its Promise (microsoft/onnxruntime#19611), so running it on
// the main thread would stall health probes and every other request; each worker owns one session instead.
// Self-contained on purpose (imports only onnxruntime-node): Node 24 can load it as .ts in tests.
import { workerData } from 'node:worker_threads';
import ort from 'onnxruntime-node';

interface WireTensor {
  type: string;
  data: ArrayBufferView | string[];
  dims: number[];
}
interface WorkerInit {
  onnxPath: string;
  sessionOptions: ort.InferenceSession.SessionOptions;
}
export type InferenceTask =
  { kind: 'describe' } | { kind: 'run'; feeds: Record<string, WireTensor>; outputs: string[] | undefined };

const init = workerData as WorkerInit;
const session = await ort.InferenceSession.create(init.onnxPath, init.sessionOptions);

/** Piscina calls this for each task. */
export default async function handle(task: InferenceTask): Promise<unknown> {
  if (task.kind === 'describe') {
    return { inputs: session.inputMetadata, outputs: session.outputMetadata };
  }
  const feeds: Record<string, ort.Tensor> = {};
  for (const [name, t] of Object.entries(task.feeds)) {
    feeds[name] = new ort.Tensor(t.type as ort.Tensor.Type, t.data as ort.Tensor.DataType, t.dims);
  }
  const result = task.outputs ? await session.run(feeds, task.outputs) : await session.run(feeds);
  const out: Record<string, WireTensor> = {};
  for (const [name, tensor] of Object.entries(result)) {
    out[name] = { type: tensor.type, data: tensor.data as ArrayBufferView | string[], dims: [...tensor.dims] };
  }
  return out;
}
