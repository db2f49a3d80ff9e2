// The thread prestartOnnxruntime starts: it creates one session of a one-node model (Identity on a float), which
// has onnxruntime do its once-per-process start (the native library, its environment, the CPU provider's kernel
// registry), then ends. The inference threads' own sessions then skip that part (see prestart-onnxruntime.ts).
import ort from 'onnxruntime-node';

// onnx.helper.make_model(make_graph([make_node('Identity', ['x'], ['y'])], 'g', [x: float[1]], [y: float[1]]),
// opset 13, ir_version 8).SerializeToString()
const IDENTITY_MODEL = Uint8Array.from([
  8, 8, 58, 55, 10, 16, 10, 1, 120, 18, 1, 121, 34, 8, 73, 100, 101, 110, 116, 105, 116, 121, 18, 1, 103, 90, 15, 10, 1,
  120, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 98, 15, 10, 1, 121, 18, 10, 10, 8, 8, 1, 18, 4, 10, 2, 8, 1, 66, 4, 10,
  0, 16, 13,
]);

const session = await ort.InferenceSession.create(IDENTITY_MODEL, {
  executionProviders: ['cpu'],
  intraOpNumThreads: 1,
  interOpNumThreads: 1,
});
await session.release();
