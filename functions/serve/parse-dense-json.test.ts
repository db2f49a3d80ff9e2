import { describe, expect, it } from '@jest/globals';
import { countRequestValues } from './count-request-values.js';
import type { ModelIo } from './model-io.js';
import { parseDenseJsonRequest } from './parse-dense-json.js';
import { parseJsonScoringRequest } from './parse-scoring-request.js';
import { prepareFeeds } from './prepare-feeds.js';

const io = (type: 'float32' | 'float64' | 'int64' = 'float32', inputs = 1, shape = [-1, -1]): ModelIo => ({
  inputs: Array.from({ length: inputs }, (_v, i) => ({ name: `x${i}`, type, shape })),
  outputs: [{ name: 'y', type: 'float32', shape: [-1, 1] }],
  signature: null,
});
const bytes = (text: string) => new TextEncoder().encode(text);
const LIMIT = 5_000_000;

/** The general path's feed for the body: JSON.parse, then the nested arrays into the typed array. */
function generalFeed(text: string, model: ModelIo) {
  const feed = prepareFeeds(parseJsonScoringRequest(text).input, model)['x0']!;
  return { dims: feed.dims, data: Array.from(feed.data as Float32Array) };
}

function denseFeed(text: string, model: ModelIo) {
  const dense = parseDenseJsonRequest(bytes(text), model, LIMIT);
  if (!dense) return null;
  const feed = prepareFeeds(
    { kind: 'tensor', tensors: [{ name: null, value: dense.value }], origin: dense.key },
    model,
  )['x0']!;
  return { dims: feed.dims, data: Array.from(feed.data as Float32Array) };
}

/** Same dims and bit-identical values (-0 and 0 told apart) as the general path. */
function expectSameAsGeneral(text: string, model = io()): void {
  const dense = denseFeed(text, model);
  expect(dense).not.toBeNull();
  const general = generalFeed(text, model);
  expect(dense!.dims).toEqual(general.dims);
  expect(dense!.data.length).toBe(general.data.length);
  dense!.data.forEach((v, i) => expect(Object.is(v, general.data[i])).toBe(true));
}

/** When the reader reads the body (rows of one length), the general path's values bit for bit. */
function expectSameWhereRead(text: string, model: ModelIo): void {
  const dense = denseFeed(text, model);
  if (!dense) return;
  const general = generalFeed(text, model);
  dense.data.forEach((v, i) => expect(Object.is(v, general.data[i])).toBe(true));
}

function seeded(start: number): () => number {
  let seed = start;
  return () => {
    seed = (seed * 1103515245 + 12345) % 2147483648;
    return seed / 2147483648;
  };
}

/** `n` random digits without leading zeros ('0' when all are) */
function digits(rand: () => number, n: number): string {
  const d = Array.from({ length: n }, () => String(Math.floor(rand() * 10))).join('');
  return d.replace(/^0+(?=.)/, '');
}

/** JSON numbers of every form: zeros and signed zeros, 1-19 digits with the dot anywhere, exponents, boundaries. */
function numberForms(rand: () => number): string[] {
  const numbers = ['0', '-0', '0.0', '-0.0', '0.000', '-0.0000', '1', '-1', '9', '2.5', '-2', '0.5'];
  for (let n = 1; n <= 19; n++) {
    for (let k = 0; k < 40; k++) {
      const d = digits(rand, n);
      const dot = Math.floor(rand() * d.length);
      const text = dot === 0 ? d : `${d.slice(0, dot)}.${d.slice(dot)}`;
      const exponent = k % 5 === 4 ? `e${Math.floor(rand() * 60 - 30)}` : '';
      numbers.push(`${rand() < 0.5 ? '-' : ''}${text}${exponent}`);
    }
  }
  // 1-9 digits (the common loop's), 10 (the general's); around 2^53; near float32 rounding boundaries
  numbers.push('123456789', '-987654321', '0.123456789', '1234.56789', '1234567890', '0.1234567891', '99999999.9');
  numbers.push('9007199254740991', '9007199254740992', '9007199254740993', '-9007199254740993', '16777217');
  numbers.push('0.1', '0.2', '0.3', '1.1', '3.4028235', '1.17549435', '0.33333334', '2.8025969e-45');
  return numbers;
}

describe('parseDenseJsonRequest', () => {
  it('reads `inputs` and `instances` of nested numbers into the input typed array, as the general path does', () => {
    expectSameAsGeneral('{"inputs": [[1.5, -2], [3, 4e-3]]}');
    expectSameAsGeneral('{"instances":[[0.1,0.2,0.3]]}');
    expectSameAsGeneral(' \n{ "inputs" :\t[ [ 1 , 2 ] , [ 3 , 4 ] ] }\r\n ');
    expectSameAsGeneral('{"inputs": [[[1, 2], [3, 4]], [[5, 6], [7, 8]]]}', io('float32', 1, [-1, 2, 2]));
    expectSameAsGeneral('{"inputs": [1, 2, 3]}', io('float32', 1, [-1]));
    expectSameAsGeneral('{"inputs": [[1.25, 2]]}', io('float64'));
    expect(parseDenseJsonRequest(bytes('{"instances": [[1]]}'), io(), LIMIT)?.key).toBe('instances');
  });

  it('reads every number JSON allows within its exact range bit for bit (-0, exponents, float32 rounding)', () => {
    const numbers = [
      '0',
      '-0',
      '-0.0',
      '0e5',
      '1E3',
      '1e+3',
      '1e-3',
      '-1.5E-7',
      '123456789012345',
      '0.1',
      '16777217',
      '9007199254740991',
      '1e22',
      '1e-22',
      '0.000001',
    ];
    for (const n of [...numbers, '1e23', '1e-23']) expectSameAsGeneral(`{"inputs": [[${n}, 1]]}`);
    // random numbers as clients write them: fixed decimals, shortest round-trip, exponents
    let seed = 7;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const values = Array.from({ length: 2000 }, (_v, i) => {
      const x = (rand() - 0.5) * 10 ** Math.floor(rand() * 12 - 6);
      return [x.toFixed(4), String(x), x.toExponential(6), String(Math.fround(x))][i % 4]!;
    });
    for (const type of ['float32', 'float64'] as const) {
      const flat = io(type, 1, [-1]);
      const dense = denseFeed(`{"inputs": [${values.join(',')}]}`, flat);
      // shortest round-trip doubles may carry 17 digits: a float64 input leaves those to the general path; a
      // float32 input reads them all (11 of these are exact float32 rounding midpoints: Number() of their text)
      expect(dense !== null).toBe(type === 'float32');
      if (dense) expectSameAsGeneral(`{"inputs": [${values.join(',')}]}`, flat);
      for (const v of values.slice(0, 400)) {
        const text = `{"inputs": [[${v}]]}`;
        if (denseFeed(text, io(type))) expectSameAsGeneral(text, io(type));
      }
    }
    expect(
      values.filter((v) => parseDenseJsonRequest(bytes(`{"inputs": [[${v}]]}`), io(), LIMIT)).length,
    ).toBeGreaterThan(1000);
  });

  it('leaves to the general path every body it does not read exactly', () => {
    const others = [
      '{"inputs": [[1, 2], [3]]}', // ragged
      '{"inputs": [[1, 2], 3]}',
      '{"inputs": [[1, [2]], [3, 4]]}',
      '{"inputs": []}',
      '{"inputs": [[]]}',
      '{"inputs": 1}',
      '{"inputs": [[1, 2]], "params": {"a": 1}}',
      '{"inputs": [[1]], "inputs": [[2]]}',
      '{"dataframe_split": {"data": [[1]]}}',
      '{"inputs": {"x0": [[1]]}}',
      '{"inputs": [[1, null]]}',
      '{"inputs": [[1, "2"]]}',
      '{"inputs": [[1, true]]}',
      '{"inputs": [[NaN, 1]]}',
      '{"inputs": [[Infinity]]}',
      '{"inputs": [[01]]}',
      '{"inputs": [[1.]]}',
      '{"inputs": [[.5]]}',
      '{"inputs": [[+1]]}',
      '{"inputs": [[1e]]}',
      '{"inputs": [[-]]}',
      '{"inputs": [[1,]]}',
      '{"inputs": [[1 2]]}',
      '{"inputs": [[1]]',
      '{"inputs": [[1]]} x',
      '{"inputs": [[1]]}}',
      '{"inp\\u0075ts": [[1]]}',
      '{"Inputs": [[1]]}',
      '\ufeff{"inputs": [[1]]}',
      '{"inputs": [[12345678901234567890]]}', // more digits than a double holds exactly
      '{"inputs": [[1e45]]}',
      '{"inputs": [[1.5e-40]]}', // subnormal as float32
      '{"inputs": [[1e-45]]}',
      '{"inputs": [[1e400]]}',
      '{"inputs": [[3.4028235e38]]}',
      '{"inputs": [[1e-45]]}',
      '{"inputs": [[1.0000000000000000000001]]}',
      '[[1]]',
      '',
    ];
    for (const text of others) expect(parseDenseJsonRequest(bytes(text), io(), LIMIT)).toBeNull();
  });

  it('reads float32 inputs sent with 16-19 digits (numpy float32 values as Python prints them) as the general path', () => {
    let seed = 11;
    const rand = () => {
      seed = (seed * 1103515245 + 12345) % 2147483648;
      return seed / 2147483648;
    };
    const f32 = new Float32Array(1);
    const u32 = new Uint32Array(f32.buffer);
    // the float32 values themselves, in shortest round-trip form of their double (what json.dumps writes)
    const reprs = Array.from({ length: 10_000 }, () => String(Math.fround((rand() - 0.5) * 10 ** (rand() * 8 - 4))));
    expect(reprs.filter((r) => r.replace(/[-.]|e.*$/g, '').replace(/^0+/, '').length >= 16).length).toBeGreaterThan(
      5000,
    );
    // decimals within 1e-16 of a float32 rounding boundary, where a double computed loosely would round wrongly
    const boundaries = Array.from({ length: 10_000 }, (_v, i) => {
      f32[0] = (rand() + 0.01) * 10 ** (rand() * 6 - 3);
      const bits = u32[0]!;
      const f = f32[0];
      u32[0] = bits + 1;
      const mid = (f + f32[0]!) / 2;
      const text = mid.toPrecision(17 + (i % 3));
      const digits = text.replace(/e.*$/, '');
      const last = Number(digits.at(-1)!);
      return i % 2 === 0 ? text : digits.slice(0, -1) + String((last + 1) % 10) + text.slice(digits.length);
    });
    let fast = 0;
    for (const values of [reprs, boundaries]) {
      for (let at = 0; at < values.length; at += 500) {
        const text = `{"inputs": [${values.slice(at, at + 500).join(', ')}]}`;
        const model = io('float32', 1, [-1]);
        const general = generalFeed(text, model);
        const dense = denseFeed(text, model);
        if (!dense) continue;
        fast++;
        dense.data.forEach((v, k) => expect(Object.is(v, general.data[k])).toBe(true));
      }
    }
    // all 40 bodies: a number too close to a boundary for the computed double is read as Number() of its text
    expect(fast).toBe(40);
    for (const v of boundaries) {
      const text = `{"inputs": [${v}]}`;
      const dense = denseFeed(text, io('float32', 1, [-1]));
      expect(dense).not.toBeNull();
      expect(Object.is(dense!.data[0], generalFeed(text, io('float32', 1, [-1])).data[0])).toBe(true);
    }
    // a float64 input needs the exact double: those digits take the general path
    expect(parseDenseJsonRequest(bytes('{"inputs": [[0.10000000149011612]]}'), io('float64'), LIMIT)).toBeNull();
  });

  it('reads long arrays of numbers of every form bit for bit as JSON.parse, whichever loop reads them', () => {
    const rand = seeded(23);
    const fixed = Array.from({ length: 4000 }, () => ((rand() - 0.5) * 10 ** (rand() * 8 - 3)).toFixed(rand() * 9));
    for (const list of [numberForms(rand), fixed]) {
      for (let at = 0; at < list.length; at += 64) {
        const rows = [0, 16, 32, 48].map((r) => `[${list.slice(at + r, at + r + 16).join(r % 32 ? ', ' : ',')}]`);
        const text = `{"inputs": [${rows.filter((r) => r !== '[]').join(',')}]}`;
        for (const type of ['float32', 'float64'] as const) expectSameWhereRead(text, io(type));
      }
    }
    // numbers of the common form (at most 9 digits, no exponent) are all read, as float32 and as float64
    const short = Array.from({ length: 2000 }, (_v, i) => {
      const d = digits(rand, 1 + (i % 9));
      const dot = i % (d.length + 1);
      const text = dot === 0 || dot === d.length ? d : `${d.slice(0, dot)}.${d.slice(dot)}`;
      return `${i % 2 ? '-' : ''}${text}`;
    });
    const rows = Array.from({ length: 20 }, (_v, r) => `[${short.slice(r * 100, r * 100 + 100).join(',')}]`);
    for (const type of ['float32', 'float64'] as const) {
      expect(denseFeed(`{"inputs": [${rows.join(',')}]}`, io(type))).not.toBeNull();
      expectSameAsGeneral(`{"inputs": [${rows.join(',')}]}`, io(type));
    }
  });

  it('reads `d.dddd` numbers (one digit, 1-4 decimals: their decimals read as one word) bit for bit as JSON.parse', () => {
    const rand = seeded(41);
    // every count of decimals, leading and trailing zeros in them, signs and -0, and what may follow: a comma, a
    // comma and a space, a 5th decimal or more (the general loop's), an exponent, the row's end
    const forms = [
      '0.0',
      '-0.0',
      '-0.0000',
      '9.9999',
      '1.0001',
      '5.5',
      '-7.25',
      '0.007',
      '3.1000',
      '1.23456',
      '-2.999999',
    ];
    forms.push('4.5e3', '6.25E-2', '8.0625', '0.5', '-0.03125');
    const values = [
      ...forms,
      ...Array.from({ length: 3000 }, (_v, i) => {
        const decimals = 1 + (i % 6);
        const text = `${Math.floor(rand() * 10)}.${digits(rand, decimals).padStart(decimals, '0')}`;
        return `${rand() < 0.5 ? '-' : ''}${text}${i % 97 === 5 ? 'e-1' : ''}`;
      }),
    ];
    for (const separator of [',', ', ']) {
      const rows = Array.from({ length: 30 }, (_v, r) => `[${values.slice(r * 100, r * 100 + 100).join(separator)}]`);
      for (const type of ['float32', 'float64'] as const) {
        expect(denseFeed(`{"inputs": [${rows.join(',')}]}`, io(type))).not.toBeNull();
        expectSameAsGeneral(`{"inputs": [${rows.join(',')}]}`, io(type));
      }
    }
    // malformed after a digit and a dot, where the word is read: refused, as JSON.parse refuses them
    for (const bad of ['1.,2', '1.a,2', '1.2.3,4', '1.2345.6,7', '1..5,2', '2.-5,1', '3.\u00ff,1']) {
      const text = `{"inputs": [[${[...Array.from({ length: 30 }, () => '1.5'), bad, '2.5', '2.5', '2.5'].join(',')}]]}`;
      expect(() => JSON.parse(text) as unknown).toThrow();
      expect(parseDenseJsonRequest(bytes(text), io(), LIMIT)).toBeNull();
    }
    // bytes no UTF-8 text holds (0xfa-0xff: the word's digit test carries out of them) after the dot or a decimal
    for (const tail of [[0xff], [0x31, 0xfa], [0x31, 0x32, 0xfe, 0x2c]]) {
      const head = bytes(`{"inputs": [[${Array.from({ length: 30 }, () => '1.5').join(',')},1.`);
      const text = new Uint8Array([...head, ...tail, ...bytes(',2.5,2.5,2.5]]}')]);
      expect(parseDenseJsonRequest(text, io(), LIMIT)).toBeNull();
    }
  });

  it('refuses malformed numbers in the middle of a long array, as JSON.parse does', () => {
    const row = Array.from({ length: 40 }, (_v, i) => `${i % 3 ? '-' : ''}${i}.${i * 37}`);
    for (const bad of [
      '01',
      '-01',
      '00',
      '00.5',
      '1.',
      '-1.',
      '.5',
      '+1',
      '-',
      '1e',
      '1.2.3',
      '1-2',
      '0x1',
      '1,,2',
      '',
    ]) {
      const text = `{"inputs": [[${[...row.slice(0, 20), bad, ...row.slice(20)].join(',')}]]}`;
      expect(() => JSON.parse(text) as unknown).toThrow();
      expect(parseDenseJsonRequest(bytes(text), io(), LIMIT)).toBeNull();
    }
    expect(parseDenseJsonRequest(bytes(`{"inputs": [[${row.join(',')},]]}`), io(), LIMIT)).toBeNull();
    expectSameAsGeneral(`{"inputs": [[${row.join(' ,\n ')}]]}`);
  });

  it('leaves models without exactly one float input to the general path', () => {
    const body = bytes('{"inputs": [[1, 2]]}');
    expect(parseDenseJsonRequest(body, io('int64'), LIMIT)).toBeNull();
    expect(parseDenseJsonRequest(body, io('float32', 2), LIMIT)).toBeNull();
  });

  it('reads a body of exactly the value limit, and leaves one value more to the general path (its 413)', () => {
    for (const text of ['{"inputs": [[1, 2], [3, 4]]}', '{"inputs": [1, 2, 3, 4, 5]}']) {
      const count = countRequestValues(bytes(text), 'json', LIMIT);
      expect(parseDenseJsonRequest(bytes(text), io(), count)).not.toBeNull();
      expect(parseDenseJsonRequest(bytes(text), io(), count - 1)).toBeNull();
    }
    const long = `{"inputs": [${Array.from({ length: 5000 }, () => '1').join(', ')}]}`;
    expect(parseDenseJsonRequest(bytes(long), io(), 4000)).toBeNull();
  });

  it('reads uneven rows (more bytes per value than the first row had) without losing values', () => {
    const rows = [
      [1, 2],
      [3.123456789, -4.987654321],
      [5e-10, 6.5e10],
    ];
    const rowsText = Array.from({ length: 300 }, (_v, i) => JSON.stringify(rows[i % 3])).join(',');
    expectSameAsGeneral(`{"inputs": [${rowsText}]}`);
  });
});
