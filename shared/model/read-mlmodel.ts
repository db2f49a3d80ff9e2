import { readFileSync, statSync } from 'node:fs';
import path from 'node:path';
// js-yaml, not the yaml package other roles use: serve reads MLmodel on its start's critical path, where importing
// yaml cost ~20 ms of the main thread and js-yaml ~3 ms (cold start, issue 16); both read YAML 1.2's core schema
import { load as parseYaml } from 'js-yaml';
import { z } from 'zod';
import { describeFirstIssue } from '../config/describe-issues.js';
import { AppError } from '../errors/app-error.js';
import { parseSignature, type Signature } from './signature.js';

/** The codes of a model folder that is not a servable MLflow model. */
export type ModelErrorCode = 'MODEL_INVALID' | 'FLAVOR_UNSUPPORTED';

declare module '../errors/app-error.js' {
  interface ErrorCodes {
    model: ModelErrorCode;
  }
}

const MLmodelYaml = z.looseObject({
  flavors: z.record(z.string(), z.looseObject({}).nullable()),
  // each key may be absent: MLflow < 2.6 wrote no `params` (issue 14)
  signature: z
    .looseObject({ inputs: z.unknown().optional(), outputs: z.unknown().optional(), params: z.unknown().optional() })
    .nullish(),
  saved_input_example_info: z.looseObject({ artifact_path: z.string(), type: z.string().optional() }).nullish(),
  model_uuid: z.string().nullish(),
  model_id: z.string().nullish(),
  mlflow_version: z.string().nullish(),
});

const OnnxFlavor = z.looseObject({
  data: z.string().min(1),
  onnx_session_options: z.record(z.string(), z.unknown()).nullish(),
  providers: z.array(z.string()).nullish(),
  onnx_version: z.string().nullish(),
});

/** What `modelctl serve` needs from an MLflow model folder. */
export interface MlflowOnnxModel {
  dir: string;
  /** absolute path of the .onnx file (external weight files beside it are found by onnxruntime) */
  onnxPath: string;
  sessionOptions: Record<string, unknown>;
  signature: Signature | null;
  /** path of the saved input example, if the model has one */
  inputExamplePath: string | null;
  inputExampleType: string | null;
  modelUuid: string | null;
  mlflowVersion: string | null;
}

/**
 * Reads `<dir>/MLmodel` and checks the model can be served by onnxruntime: an `onnx` flavor whose data
 * file exists. Every refusal is one line that says what to do.
 * The small reads are synchronous on purpose: at start-up `modelctl serve` starts its inference threads right
 * after this, and an awaited read would wait behind the modules the main thread is loading meanwhile.
 * @throws AppError `MODEL_INVALID` (missing/invalid MLmodel, missing data) or `FLAVOR_UNSUPPORTED`
 */
export async function readMlmodel(dir: string): Promise<MlflowOnnxModel> {
  const doc = loadMlmodelYaml(dir);
  const onnx = doc.flavors['onnx'];
  if (!onnx) throw unsupportedFlavor(Object.keys(doc.flavors));
  const flavor = OnnxFlavor.safeParse(onnx);
  if (!flavor.success)
    throw invalid(`${dir}/MLmodel: flavors.onnx.data is missing: the onnx flavor must name its model file`);
  const onnxPath = insideModel(dir, flavor.data.data, 'flavors.onnx.data');
  if (!isFile(onnxPath))
    throw invalid(`${dir}/MLmodel: flavors.onnx.data names ${flavor.data.data}, which is not in the model folder`);
  const signature = parseSignatureOrThrow(doc.signature, dir);
  const example = doc.saved_input_example_info;
  return {
    dir,
    onnxPath,
    sessionOptions: flavor.data.onnx_session_options ?? {},
    signature,
    inputExamplePath: example
      ? insideModel(dir, example.artifact_path, 'saved_input_example_info.artifact_path')
      : null,
    inputExampleType: example?.type ?? null,
    modelUuid: doc.model_uuid ?? null,
    mlflowVersion: doc.mlflow_version ?? null,
  };
}

/** The flavors and signature of `<dir>/MLmodel`, whatever its flavors (serve picks its runtime from them). */
export function readMlmodelFlavors(dir: string): { flavors: string[]; signature: Signature | null } {
  const doc = loadMlmodelYaml(dir);
  return { flavors: Object.keys(doc.flavors), signature: parseSignatureOrThrow(doc.signature, dir) };
}

function loadMlmodelYaml(dir: string): z.infer<typeof MLmodelYaml> {
  const file = path.join(dir, 'MLmodel');
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (cause) {
    throw invalid(
      `no MLmodel file in ${dir}: point MODEL_LOCAL_PATH at an MLflow model folder (the one holding MLmodel)`,
      cause,
    );
  }
  let doc: unknown;
  try {
    doc = parseYaml(text);
  } catch (cause) {
    throw invalid(`${file} is not valid YAML: ${(cause as Error).message.split('\n')[0]}`, cause);
  }
  const parsed = MLmodelYaml.safeParse(doc);
  if (!parsed.success) {
    throw invalid(`${file} is not an MLflow model: ${describeFirstIssue(parsed.error, 'document')}`);
  }
  return parsed.data;
}

function parseSignatureOrThrow(raw: z.infer<typeof MLmodelYaml>['signature'], dir: string): Signature | null {
  try {
    return parseSignature(raw);
  } catch (cause) {
    throw invalid(`${dir}/MLmodel: ${(cause as Error).message}`, cause);
  }
}

/** Resolves a path named inside MLmodel, refusing one that climbs out of the model folder. */
function insideModel(dir: string, relative: string, field: string): string {
  const resolved = path.resolve(dir, relative);
  if (resolved !== path.resolve(dir) && !resolved.startsWith(path.resolve(dir) + path.sep)) {
    throw invalid(`${dir}/MLmodel: ${field} (${relative}) points outside the model folder`);
  }
  return resolved;
}

function isFile(p: string): boolean {
  try {
    return statSync(p).isFile();
  } catch {
    return false;
  }
}

function unsupportedFlavor(flavors: string[]): AppError {
  const named = flavors.filter((f) => f !== 'python_function');
  const which = named.length > 0 ? named.join(', ') : flavors.join(', ') || 'none';
  return new AppError({
    code: 'FLAVOR_UNSUPPORTED',
    statusCode: 400,
    message:
      `model flavor ${which} cannot be served by onnxruntime: with SERVE_RUNTIME=onnx, modelctl serve runs the onnx flavor ` +
      `(any model with the python_function flavor runs with SERVE_RUNTIME=auto or pyfunc). Convert the model to ONNX ` +
      `(skl2onnx, torch.onnx.export, tf2onnx) and log it with mlflow.onnx.log_model(onnx_model, name=...)`,
  });
}

function invalid(message: string, cause?: unknown): AppError {
  return new AppError({ code: 'MODEL_INVALID', statusCode: 400, message, cause });
}
