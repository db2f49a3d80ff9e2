import { badRequest } from './scoring-error.js';

/** Tensors by name (`null` for a single unnamed tensor), as sent with `inputs` / `instances`. */
export interface TensorInput {
  kind: 'tensor';
  tensors: { name: string | null; value: unknown }[];
  /** the request key it came from: MLflow words some refusals differently for each */
  origin: 'inputs' | 'instances';
}
/** A table, as sent with `dataframe_split`, `dataframe_records` or CSV. */
export interface FrameInput {
  kind: 'frame';
  columns: string[];
  rows: unknown[][];
}
export type ModelInput = TensorInput | FrameInput;

export interface ScoringRequest {
  input: ModelInput;
  params: Record<string, unknown> | undefined;
}

const INPUT_KEYS = ['dataframe_split', 'dataframe_records', 'instances', 'inputs'] as const;
const KEYS_TEXT = "{'instances', 'dataframe_records', 'dataframe_split', 'inputs'}";

/**
 * Parses a `POST /invocations` JSON body exactly as the MLflow scoring protocol defines it: a dict with exactly
 * one of `dataframe_split`, `dataframe_records`, `instances`, `inputs`, and optional `params`.
 * @throws BAD_REQUEST with MLflow's wording for each malformed shape
 */
export function parseJsonScoringRequest(body: string): ScoringRequest {
  let doc: unknown;
  try {
    doc = JSON.parse(body);
  } catch (cause) {
    doc = parseWithNonFiniteNumbers(body);
    if (doc === undefined)
      throw badRequest(
        `Invalid input. Ensure that input is a valid JSON formatted string. Error: '${(cause as Error).message}'`,
        cause,
      );
  }
  return scoringRequestOf(doc);
}

/** A JSON string (skipped whole), or a bare NaN / Infinity / -Infinity that is not an object key. */
const STRING_OR_NON_FINITE = /"(?:[^"\\]|\\.)*"|(-?Infinity|NaN)(?![\w$])(?!\s*:)/g;

/**
 * The document with bare `NaN`, `Infinity` and `-Infinity` read, as Python's json (MLflow's parser) reads them
 * and as Python clients write them (`json.dumps` writes float('nan') as a bare NaN by default). Each becomes the
 * string of the same name, which the numeric conversion reads as that number, as Python's float() does. Only
 * tried once JSON.parse has refused the body, so valid JSON pays nothing.
 * @returns undefined when the body is not JSON even so
 */
function parseWithNonFiniteNumbers(body: string): unknown {
  let replaced = false;
  const quoted = body.replace(STRING_OR_NON_FINITE, (match: string, token: string | undefined) => {
    if (token === undefined) return match;
    replaced = true;
    return `"${token}"`;
  });
  if (!replaced) return undefined;
  try {
    return JSON.parse(quoted) as unknown;
  } catch {
    return undefined;
  }
}

/**
 * A scoring request from an already parsed JSON document (KServe v1 hands over `{instances}`).
 * @throws BAD_REQUEST with MLflow's wording for each malformed shape
 */
export function scoringRequestOf(doc: unknown): ScoringRequest {
  if (!isPlainObject(doc)) {
    throw badRequest(
      `Invalid input. The input must be a JSON dictionary with exactly one of the input fields ${KEYS_TEXT}. Received a ${Array.isArray(doc) ? 'list' : typeof doc}.`,
    );
  }
  const present = INPUT_KEYS.filter((k) => k in doc);
  if (present.length !== 1) {
    const received = Object.keys(doc)
      .filter((k) => k !== 'params')
      .sort();
    throw badRequest(
      `The input must be a JSON dictionary with exactly one of the input fields ${KEYS_TEXT}. Received dictionary with input fields: [${received.map((k) => `'${k}'`).join(', ')}].`,
    );
  }
  const key = present[0]!;
  return { input: parseInput(key, doc[key]), params: parseParams(doc['params']) };
}

function parseInput(key: (typeof INPUT_KEYS)[number], value: unknown): ModelInput {
  switch (key) {
    case 'dataframe_split':
      return parseDataframeSplit(value);
    case 'dataframe_records':
      return parseDataframeRecords(value);
    case 'instances':
      return parseInstances(value);
    case 'inputs':
      return parseInputs(value);
  }
}

/** `{"columns": [...], "data": [[...]], "index"?: [...]}` (pandas orient="split"). */
function parseDataframeSplit(value: unknown): FrameInput {
  if (!isPlainObject(value)) {
    throw badRequest(
      `Invalid input. Dataframe split format must be a dictionary. Got ${Array.isArray(value) ? 'list' : typeof value}.`,
    );
  }
  const data = value['data'];
  if (!Array.isArray(data)) throw badRequest("Invalid input. Dataframe split format must have a 'data' list.");
  const names = splitColumnNames(value['columns'], Array.isArray(data[0]) ? data[0].length : 1);
  const rows = data.map((row) => (Array.isArray(row) ? (row as unknown[]) : [row]));
  for (const row of rows) {
    if (row.length !== names.length) {
      throw badRequest(`Invalid input. ${names.length} columns passed, passed data had ${row.length} columns`);
    }
  }
  return { kind: 'frame', columns: names, rows };
}

/** The split frame's `columns`, or pandas' default names `0..width-1` when it has none. */
function splitColumnNames(columns: unknown, width: number): string[] {
  if (columns === undefined) return Array.from({ length: width }, (_v, i) => String(i));
  if (!Array.isArray(columns) || columns.some((c) => typeof c !== 'string' && typeof c !== 'number')) {
    throw badRequest("Invalid input. Dataframe split 'columns' must be a list of column names.");
  }
  return columns.map(String);
}

/** `[{"a": 1, "b": 2}, ...]` (pandas orient="records"). */
function parseDataframeRecords(value: unknown): FrameInput {
  if (!Array.isArray(value) || !value.every(isPlainObject)) {
    throw badRequest('Invalid input. Dataframe records format must be a list of records (dictionaries).');
  }
  return recordsToFrame(value);
}

function recordsToFrame(records: Record<string, unknown>[]): FrameInput {
  const columns: string[] = [];
  const seen = new Set<string>();
  for (const record of records) {
    for (const key of Object.keys(record)) {
      if (!seen.has(key)) columns.push(key);
      seen.add(key);
    }
  }
  // a key missing from a record is NaN in pandas
  const rows = records.map((r) => columns.map((c) => (c in r ? r[c] : null)));
  return { kind: 'frame', columns, rows };
}

/** TF-serving row format: a list of rows, or a list of dicts (one tensor per key). */
function parseInstances(value: unknown): TensorInput {
  if (!Array.isArray(value)) throw badRequest("Invalid input. 'instances' must be a list.");
  if (value.length > 0 && value.every(isPlainObject)) {
    const names = Object.keys(value[0] as Record<string, unknown>);
    return {
      kind: 'tensor',
      tensors: names.map((name) => ({ name, value: (value as Record<string, unknown>[]).map((row) => row[name]) })),
      origin: 'instances',
    };
  }
  return { kind: 'tensor', tensors: [{ name: null, value }], origin: 'instances' };
}

/** TF-serving columnar format: one tensor, or a dict of named tensors. */
function parseInputs(value: unknown): TensorInput {
  if (isPlainObject(value)) {
    return {
      kind: 'tensor',
      tensors: Object.entries(value).map(([name, v]) => ({ name, value: v })),
      origin: 'inputs',
    };
  }
  return { kind: 'tensor', tensors: [{ name: null, value }], origin: 'inputs' };
}

function parseParams(value: unknown): Record<string, unknown> | undefined {
  // MLflow ignores params a model does not declare (with a warning); a non-dict is ignored the same way.
  return isPlainObject(value) ? value : undefined;
}

/**
 * Parses a `text/csv` body (pandas `to_csv()` output: a header row, then values; an unnamed first column is the
 * index and is dropped).
 * @throws BAD_REQUEST when it is not a table (the promise rejects)
 */
export async function parseCsvScoringRequest(body: string): Promise<ScoringRequest> {
  // csv-parse loads on the first CSV request: JSON is the common case, and start-up does not need it
  const { parse: parseCsv } = await import('csv-parse/sync');
  let records: string[][];
  try {
    records = parseCsv(body, { skip_empty_lines: true, relax_column_count: false }) as string[][];
  } catch (cause) {
    throw badRequest(
      `Failed to parse input as a Pandas DataFrame. Ensure that the input is a valid CSV-formatted Pandas DataFrame produced using the \`pandas.DataFrame.to_csv()\` method. Error: '${(cause as Error).message}'`,
      cause,
    );
  }
  const [header, ...rows] = records;
  if (!header || header.length === 0)
    throw badRequest('Failed to parse input as a Pandas DataFrame: the CSV has no header row');
  const dropIndex = header[0] === '';
  const columns = dropIndex ? header.slice(1) : header;
  return {
    input: { kind: 'frame', columns, rows: rows.map((r) => (dropIndex ? r.slice(1) : r).map(csvValue)) },
    params: undefined,
  };
}

/** pandas reads an empty CSV field as NaN. */
function csvValue(field: string): unknown {
  return field === '' ? null : field;
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}
