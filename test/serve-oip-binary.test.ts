import { afterAll, beforeAll, describe, expect, it } from '@jest/globals';
import path from 'node:path';
import { EXAMPLE_MODELS, startModelctlServe, type ModelctlProcess } from '../testkit/modelctl-process.js';
import { clientsPython, runOipClient, type ClientTensor } from '../testkit/peers/oip-clients.js';

const IRIS_ROWS = [5.1, 3.5, 1.4, 0.2, 6.7, 3.0, 5.2, 2.3, 5.9, 3.0, 4.2, 1.5];
const IRIS_INPUT: ClientTensor = { name: 'X', datatype: 'FP32', shape: [3, 4], data: IRIS_ROWS };

/** The JSON answer of the v2 route: what every binary round trip must equal. */
async function jsonInfer(url: string, model: string, inputs: ClientTensor[]): Promise<ClientTensor[]> {
  const res = await fetch(`${url}/v2/models/${model}/infer`, {
    method: 'POST',
    headers: { 'Content-Type': 'application/json' },
    body: JSON.stringify({ id: 'req-7', inputs }),
  });
  expect(res.status).toBe(200);
  return ((await res.json()) as { outputs: ClientTensor[] }).outputs;
}

/** A binary-extension body: JSON header + raw bytes; `headerLength` may lie. */
async function binaryInfer(
  url: string,
  params: { header: unknown; binary: Uint8Array; headerLength?: string | null | undefined },
): Promise<{ status: number; json: unknown }> {
  const header = Buffer.from(JSON.stringify(params.header));
  const headers: Record<string, string> = { 'Content-Type': 'application/octet-stream' };
  if (params.headerLength !== null)
    headers['Inference-Header-Content-Length'] = params.headerLength ?? String(header.length);
  const res = await fetch(`${url}/v2/models/iris/infer`, {
    method: 'POST',
    headers,
    body: Buffer.concat([header, params.binary]),
  });
  const text = await res.text();
  let json: unknown = text;
  try {
    json = JSON.parse(text);
  } catch {
    // not JSON
  }
  return { status: res.status, json };
}

const f32 = (values: number[]) => new Uint8Array(Float32Array.from(values).buffer);
const irisHeader = (size: number, extra: Record<string, unknown> = {}) => ({
  inputs: [{ name: 'X', shape: [3, 4], datatype: 'FP32', parameters: { binary_data_size: size }, ...extra }],
});

describe('Open Inference Protocol binary tensor data, with the real clients', () => {
  let server: ModelctlProcess;
  let python: string;
  beforeAll(async () => {
    [server, python] = await Promise.all([
      startModelctlServe({ MODEL_LOCAL_PATH: path.join(EXAMPLE_MODELS, 'iris') }),
      clientsPython(),
    ]);
  }, 900_000);
  afterAll(async () => {
    await server.stop();
  });

  it('answers tritonclient HTTP with binary inputs and outputs, JSON ones, and every output unasked', async () => {
    const expected = await jsonInfer(server.url, 'iris', [IRIS_INPUT]);
    const run = await runOipClient({
      python,
      client: 'triton-http',
      target: new URL(server.url).host,
      model: 'iris',
      request: { inputs: [IRIS_INPUT], outputs: ['label', 'probabilities'] },
    });
    expect(run.live).toBe(true);
    expect(run.ready).toBe(true);
    expect(run.metadata).toMatchObject({ name: 'iris', inputs: [{ name: 'X', datatype: 'FP32', shape: [-1, 4] }] });
    expect(run.binary).toEqual({ id: 'req-7', outputs: expected });
    expect(run.json).toEqual({ id: 'req-7', outputs: expected });
    expect(run.all_outputs).toEqual(['label', 'probabilities']);
  });

  it("answers KServe's InferenceRESTClient with binary inputs and outputs", async () => {
    const expected = await jsonInfer(server.url, 'iris', [IRIS_INPUT]);
    const run = await runOipClient({
      python,
      client: 'kserve-rest',
      target: server.url,
      model: 'iris',
      request: { inputs: [IRIS_INPUT], outputs: ['label', 'probabilities'] },
    });
    expect(run.binary).toEqual({ id: 'req-7', outputs: expected });
  });

  it('sends binary outputs after the JSON header, sized in it, with Inference-Header-Content-Length', async () => {
    const res = await fetch(`${server.url}/v2/models/iris/infer`, {
      method: 'POST',
      body: JSON.stringify({
        inputs: [IRIS_INPUT],
        parameters: { binary_data_output: true },
        outputs: [{ name: 'label', parameters: { binary_data: false } }, { name: 'probabilities' }],
      }),
    });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    const body = Buffer.from(await res.arrayBuffer());
    const headerLength = Number(res.headers.get('inference-header-content-length'));
    const header = JSON.parse(body.subarray(0, headerLength).toString('utf8')) as {
      outputs: Record<string, unknown>[];
    };
    const expected = await jsonInfer(server.url, 'iris', [IRIS_INPUT]);
    // label asked as JSON; probabilities binary by the request-wide default
    expect(header.outputs[0]).toEqual(expected[0]);
    expect(header.outputs[1]).toEqual({
      name: 'probabilities',
      datatype: 'FP32',
      shape: [3, 3],
      parameters: { binary_data_size: 36 },
    });
    const raw = body.subarray(headerLength);
    expect(raw.length).toBe(36);
    const probabilities = new Float32Array(raw.buffer.slice(raw.byteOffset, raw.byteOffset + raw.length));
    expect(Array.from(probabilities)).toEqual(expected[1]!.data);
  });

  it('refuses malformed binary headers and sizes that lie with 400, and keeps serving', async () => {
    const bytes = f32(IRIS_ROWS); // 48 bytes
    const cases: {
      what: string;
      header: unknown;
      binary: Uint8Array;
      headerLength?: string | null | undefined;
      error: RegExp;
    }[] = [
      {
        what: 'a header length that is not a number',
        header: irisHeader(48),
        binary: bytes,
        headerLength: 'abc',
        error: /byte count/,
      },
      {
        what: 'a header length past the body',
        header: irisHeader(48),
        binary: bytes,
        headerLength: '100000',
        error: /does not fit/,
      },
      {
        what: 'a header length that cuts the JSON',
        header: irisHeader(48),
        binary: bytes,
        headerLength: '20',
        error: /not valid JSON/,
      },
      {
        what: 'binary data longer than the sizes declare',
        header: irisHeader(48),
        binary: f32([...IRIS_ROWS, 1]),
        error: /add up to 48/,
      },
      {
        what: 'a size past the end of the binary data',
        header: irisHeader(52),
        binary: bytes,
        error: /runs past the end/,
      },
      {
        what: 'a size that does not fit the shape',
        header: irisHeader(44),
        binary: bytes.subarray(0, 44),
        error: /needs 48/,
      },
      {
        what: 'a size that is not a byte count',
        header: irisHeader(-4),
        binary: bytes,
        error: /must be a byte count/,
      },
      {
        what: 'both data and a binary size',
        header: irisHeader(48, { data: IRIS_ROWS }),
        binary: bytes,
        error: /both data and binary_data_size/,
      },
      {
        what: 'binary sizes without the header length',
        header: irisHeader(48),
        binary: new Uint8Array(0),
        headerLength: null,
        error: /runs past the end/,
      },
      {
        what: 'neither data nor a binary size',
        header: { inputs: [{ name: 'X', shape: [3, 4], datatype: 'FP32' }] },
        binary: new Uint8Array(0),
        error: /neither data nor binary_data_size/,
      },
    ];
    for (const c of cases) {
      const answer = await binaryInfer(server.url, {
        header: c.header,
        binary: c.binary,
        headerLength: c.headerLength,
      });
      expect({ what: c.what, status: answer.status }).toEqual({ what: c.what, status: 400 });
      expect((answer.json as { error: string }).error).toMatch(c.error);
    }
    const good = await binaryInfer(server.url, { header: irisHeader(48), binary: bytes });
    expect(good.status).toBe(200);
    expect((good.json as { outputs: ClientTensor[] }).outputs).toEqual(
      await jsonInfer(server.url, 'iris', [IRIS_INPUT]).then((o) => o),
    );
  });
});
