import { describe, expect, it } from '@jest/globals';
import { isAppError } from '../../shared/errors/app-error.js';
import { checkRequestValues, countRequestValues } from './count-request-values.js';

const bytes = (text: string) => new TextEncoder().encode(text);

describe('countRequestValues', () => {
  it('counts arrays, objects and the elements after each comma of a JSON body', () => {
    expect(countRequestValues(bytes('{"inputs": [[1, 2], [3, 4]]}'), 'json', 100)).toBe(8);
    expect(countRequestValues(bytes('[]'), 'json', 100)).toBe(2);
    expect(countRequestValues(bytes('7'), 'json', 100)).toBe(1);
  });

  it('never counts what sits inside a JSON string, escaped quotes included', () => {
    expect(countRequestValues(bytes('["a,[{", "\\",[,{", "\\\\"]'), 'json', 100)).toBe(4);
  });

  it('counts the fields of a CSV body, skipping commas and newlines inside quotes', () => {
    expect(countRequestValues(bytes('a,b\n1,2\n'), 'csv', 100)).toBe(5);
    expect(countRequestValues(bytes('a,b\n"x,\n""y",2'), 'csv', 100)).toBe(4);
  });

  it('stops one past the limit', () => {
    expect(countRequestValues(bytes(`[${'0,'.repeat(1000)}0]`), 'json', 10)).toBe(11);
  });
});

describe('checkRequestValues', () => {
  it('refuses a body over the limit with a 413 that names the setting', () => {
    let err: unknown;
    try {
      checkRequestValues(bytes(`{"inputs": [${'[0],'.repeat(50)}[0]]}`), 'json', 20);
    } catch (e) {
      err = e;
    }
    expect(isAppError(err) && [err.statusCode, err.code, err.message]).toEqual([
      413,
      'REQUEST_LIMIT_EXCEEDED',
      expect.stringMatching(/more than 20 values.*SERVE_MAX_REQUEST_VALUES/),
    ]);
  });

  it('lets a body at the limit through', () => {
    expect(() => checkRequestValues(bytes('[0,0,0,0,0,0,0,0,0]'), 'json', 10)).not.toThrow();
  });
});
