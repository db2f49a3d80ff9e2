import { describe, expect, it } from '@jest/globals';
import { contentTypeVerdict } from './mlflow-content-type.js';

describe('contentTypeVerdict', () => {
  it.each([
    ['application/json', 'json'],
    ['application/json; charset=utf-8', 'json'],
    ['Application/JSON; charset="UTF-8"', 'json'],
    ['text/csv', 'csv'],
    ['text/csv; charset=utf-8', 'csv'],
  ])('accepts %s as %s', (header, format) => {
    expect(contentTypeVerdict(header)).toEqual({ format, refusal: null });
  });

  it.each([
    [
      undefined,
      "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got 'None'.",
    ],
    ['application/json; charset=latin-1', 'The scoring server only supports UTF-8'],
    [
      'text/plain',
      "This predictor only supports the following content types: Types: ['text/csv', 'application/json']. Got 'text/plain'.",
    ],
  ])('refuses %s with MLflow text', (header, refusal) => {
    expect(contentTypeVerdict(header)).toEqual({ format: null, refusal });
  });

  it('refuses parameters other than charset, naming them', () => {
    const { format, refusal } = contentTypeVerdict('application/json; format=pandas-split');
    expect(format).toBeNull();
    expect(refusal).toMatch(
      /^Unrecognized content type parameters: format\. IMPORTANT: The MLflow Model scoring protocol/,
    );
  });

  it('answers a header seen before with the same verdict, and judges many distinct headers alike', () => {
    const first = contentTypeVerdict('application/json; charset=utf-8');
    expect(contentTypeVerdict('application/json; charset=utf-8')).toBe(first);
    // past the kept verdicts, each header is still judged by the rules
    for (let i = 0; i < 100; i++) {
      expect(contentTypeVerdict(`text/x-${i}`).refusal).toContain(`Got 'text/x-${i}'.`);
      expect(contentTypeVerdict(`text/csv; charset=utf-8 ${' '.repeat(i % 3)}`)).toEqual({
        format: 'csv',
        refusal: null,
      });
    }
  });
});
