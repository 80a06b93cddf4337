import { describe, expect, it } from 'vitest';
import { checkAlphas, parseAlphaList } from './alphas.ts';

const HINT = 'Write a comma-separated list like 0,0.25,0.5 or a range from:to:step like 0:1:0.25';

describe('parseAlphaList', () => {
  it('lists', () => {
    expect(parseAlphaList('0,0.25,0.5')).toEqual([0, 0.25, 0.5]);
    expect(parseAlphaList(' 1 , -0.5 ,2e-1')).toEqual([1, -0.5, 0.2]);
    expect(parseAlphaList('0.8')).toEqual([0.8]);
  });
  it('ranges include both ends, without float drift', () => {
    expect(parseAlphaList('0:1:0.25')).toEqual([0, 0.25, 0.5, 0.75, 1]);
    expect(parseAlphaList('0:1.5:0.25')).toEqual([0, 0.25, 0.5, 0.75, 1, 1.25, 1.5]);
    expect(parseAlphaList('0:1:0.1')).toEqual([0, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    expect(parseAlphaList('0.5:1:0.2')).toEqual([0.5, 0.7, 0.9]);
    expect(parseAlphaList('1:1:0.5')).toEqual([1]);
  });
  it('errors name the flag, what was expected and what was found', () => {
    expect(() => parseAlphaList('0,a')).toThrow(`tensor "--alphas": "a" is not a number; expected finite numbers, found "0,a". ${HINT}`);
    expect(() => parseAlphaList('')).toThrow('"" is not a number');
    expect(() => parseAlphaList('0,,1')).toThrow('"" is not a number');
    expect(() => parseAlphaList('0:1')).toThrow('a range needs from:to:step; expected three numbers separated by ":", found "0:1"');
    expect(() => parseAlphaList('0:1:0')).toThrow('the step of a range must be positive; expected step > 0, found 0');
    expect(() => parseAlphaList('1:0:0.1')).toThrow('a range must not end before it starts; expected to ≥ from (1), found 0');
    expect(() => parseAlphaList('0:1000:1')).toThrow('the range has too many α values; expected at most 101, found 1001');
    expect(() => parseAlphaList('0,0.5,0')).toThrow('α = 0 is listed twice; expected distinct values, found 0 again');
    expect(() => parseAlphaList('Infinity')).toThrow('"Infinity" is not a number');
  });
  it('checkAlphas', () => {
    expect(() => checkAlphas([])).toThrow('tensor "alphas": no α values');
    expect(() => checkAlphas([0, NaN])).toThrow('every α must be a finite number; expected finite numbers, found NaN');
  });
});
