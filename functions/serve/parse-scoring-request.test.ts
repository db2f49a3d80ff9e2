import { describe, expect, it } from '@jest/globals';
import { parseCsvScoringRequest, parseJsonScoringRequest } from './parse-scoring-request.js';

describe('parseJsonScoringRequest', () => {
  it('reads `inputs` as one unnamed tensor', () => {
    expect(parseJsonScoringRequest('{"inputs": [[1, 2]]}').input).toEqual({
      kind: 'tensor',
      tensors: [{ name: null, value: [[1, 2]] }],
      origin: 'inputs',
    });
  });

  it('reads `inputs` as named tensors when it is a dict', () => {
    expect(parseJsonScoringRequest('{"inputs": {"a": [1], "b": [2]}}').input).toEqual({
      kind: 'tensor',
      tensors: [
        { name: 'a', value: [1] },
        { name: 'b', value: [2] },
      ],
      origin: 'inputs',
    });
  });

  it('turns `instances` of dicts into one tensor per key', () => {
    expect(parseJsonScoringRequest('{"instances": [{"a": 1, "b": [2]}, {"a": 3, "b": [4]}]}').input).toEqual({
      kind: 'tensor',
      tensors: [
        { name: 'a', value: [1, 3] },
        { name: 'b', value: [[2], [4]] },
      ],
      origin: 'instances',
    });
  });

  it('reads `dataframe_split` with columns and rows', () => {
    expect(
      parseJsonScoringRequest('{"dataframe_split": {"columns": ["x", "y"], "data": [[1, 2], [3, 4]]}}').input,
    ).toEqual({
      kind: 'frame',
      columns: ['x', 'y'],
      rows: [
        [1, 2],
        [3, 4],
      ],
    });
  });

  it('reads `dataframe_records`, filling a missing key with null like pandas fills NaN', () => {
    expect(parseJsonScoringRequest('{"dataframe_records": [{"x": 1, "y": 2}, {"x": 3}]}').input).toEqual({
      kind: 'frame',
      columns: ['x', 'y'],
      rows: [
        [1, 2],
        [3, null],
      ],
    });
  });

  it('reads bare NaN, Infinity and -Infinity as Python json does, as the strings float() reads back', () => {
    expect(parseJsonScoringRequest('{"inputs": [[NaN, Infinity, -Infinity, "NaN, x"]]}').input).toEqual({
      kind: 'tensor',
      tensors: [{ name: null, value: [['NaN', 'Infinity', '-Infinity', 'NaN, x']] }],
      origin: 'inputs',
    });
  });

  it.each(['{"inputs": [nan]}', '{"inputs": [NaNa]}', '{NaN: 1, "inputs": [1]}', '{"inputs": [NaN'])(
    "refuses %s as not JSON, with the parser's own error",
    (body) => {
      expect(() => parseJsonScoringRequest(body)).toThrow(/valid JSON formatted string/);
    },
  );

  it('keeps a params dict and ignores a params value that is not a dict', () => {
    expect(parseJsonScoringRequest('{"inputs": [1], "params": {"k": 5}}').params).toEqual({ k: 5 });
    expect(parseJsonScoringRequest('{"inputs": [1], "params": [1]}').params).toBeUndefined();
  });

  it.each([
    ['{bad json', /valid JSON formatted string/],
    ['[1, 2]', /Received a list/],
    ['{}', /exactly one of the input fields .* Received dictionary with input fields: \[\]/],
    ['{"inputs": [1], "instances": [1]}', /input fields: \['inputs', 'instances'\]/],
    ['{"dataframe_split": [1, 2]}', /Dataframe split format must be a dictionary. Got list/],
    ['{"dataframe_split": {"columns": ["a"], "data": [[1, 2]]}}', /1 columns passed, passed data had 2 columns/],
    ['{"dataframe_records": [1]}', /list of records/],
    ['{"instances": 5}', /'instances' must be a list/],
  ])('refuses %s as BAD_REQUEST', (body, message) => {
    expect(() => parseJsonScoringRequest(body)).toThrow(
      expect.objectContaining({ code: 'BAD_REQUEST', statusCode: 400, message: expect.stringMatching(message) }),
    );
  });
});

describe('parseCsvScoringRequest', () => {
  it('reads a header and rows, empty fields as null', async () => {
    expect((await parseCsvScoringRequest('a,b\n1,2\n3,\n')).input).toEqual({
      kind: 'frame',
      columns: ['a', 'b'],
      rows: [
        ['1', '2'],
        ['3', null],
      ],
    });
  });

  it("drops pandas' unnamed index column", async () => {
    expect((await parseCsvScoringRequest(',a\n0,1\n1,2\n')).input).toEqual({
      kind: 'frame',
      columns: ['a'],
      rows: [['1'], ['2']],
    });
  });

  it('refuses rows of the wrong width', async () => {
    await expect(parseCsvScoringRequest('a,b\n1,2,3\n')).rejects.toEqual(
      expect.objectContaining({ code: 'BAD_REQUEST' }),
    );
  });
});
