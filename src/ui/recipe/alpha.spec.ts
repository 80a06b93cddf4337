import { describe, expect, it } from 'vitest';
import type { AlphaSetting } from '../../core/recipe.ts';
import { alphaAfterKey, alphaEditorFrom, alphaSetting, constantAlpha, curveAtLayers, describeAlpha, parseAlpha, parseGradient } from './alpha.ts';

describe('α editor ↔ recipe α', () => {
  it('maps a constant, a curve and overrides to mergekit forms', () => {
    expect(alphaSetting(constantAlpha(0.35))).toBe(0.35);
    expect(alphaSetting({ ...constantAlpha(1), mode: 'curve', curve: [0, 1] })).toEqual([0, 1]);
    const overridden = { ...constantAlpha(0.8), overrides: [{ filter: ' self_attn ', value: 0.5 }, { filter: 'mlp', value: [0, 1] }] };
    expect(alphaSetting(overridden)).toEqual([{ filter: 'self_attn', value: 0.5 }, { filter: 'mlp', value: [0, 1] }, { value: 0.8 }]);
    expect(alphaSetting({ ...overridden, others: 'unchanged' })).toEqual([{ filter: 'self_attn', value: 0.5 }, { filter: 'mlp', value: [0, 1] }]);
    // A filter still being typed is not part of the recipe.
    expect(alphaSetting({ ...constantAlpha(0.8), overrides: [{ filter: '  ', value: 0.5 }] })).toBe(0.8);
  });

  it('shows every recipe α exactly, and maps it back unchanged', () => {
    const settings: AlphaSetting[] = [1, -0.5, [0, 0.5, 1], [{ filter: 'self_attn', value: 0.5 }, { value: [0, 1] }], [{ filter: 'mlp', value: 2 }]];
    for (const s of settings) expect(alphaSetting(alphaEditorFrom(s))).toEqual(s);
  });

  it('reads forms with the same meaning as their simplest editor', () => {
    expect(alphaEditorFrom([0.7])).toEqual(constantAlpha(0.7));
    // A catch-all first: nothing after it can match.
    expect(alphaSetting(alphaEditorFrom([{ filter: 'mlp', value: 0.5 }, { filter: '*', value: 1 }, { filter: 'attn', value: 2 }]))).toEqual([{ filter: 'mlp', value: 0.5 }, { value: 1 }]);
    expect(alphaEditorFrom([{ value: 0.3 }])).toEqual(constantAlpha(0.3));
    expect(alphaEditorFrom([{ filter: 'mlp', value: 0.5 }]).others).toBe('unchanged');
  });
});

describe('slider keys', () => {
  it('steps 0.05 with arrows, 0.25 with Page Up/Down, jumps with Home/End, stays in −1…2', () => {
    expect(alphaAfterKey('ArrowRight', 1)).toBe(1.05);
    expect(alphaAfterKey('ArrowUp', 0.1)).toBe(0.15);
    expect(alphaAfterKey('ArrowLeft', 0.1)).toBe(0.05);
    expect(alphaAfterKey('ArrowDown', -0.95)).toBe(-1);
    expect(alphaAfterKey('ArrowDown', -1)).toBe(-1);
    expect(alphaAfterKey('PageUp', 1.9)).toBe(2);
    expect(alphaAfterKey('PageDown', 0.9)).toBe(0.65);
    expect(alphaAfterKey('Home', 0.3)).toBe(-1);
    expect(alphaAfterKey('End', 0.3)).toBe(2);
    expect(alphaAfterKey('Enter', 0.3)).toBeNull();
  });
});

describe('typed values', () => {
  it('says why a value is not usable', () => {
    expect(parseAlpha('0.5')).toBe(0.5);
    expect(parseAlpha(' ')).toBe('Enter a value for α.');
    expect(parseAlpha('x')).toBe('α must be a number, not "x".');
    expect(parseAlpha('3')).toBe('α must be between −1 and 2.');
    expect(parseGradient('0.5')).toBe(0.5);
    expect(parseGradient('0, 0.5,1')).toEqual([0, 0.5, 1]);
    expect(parseGradient('0, , 1')).toBe('Each value: Enter a value for α.');
  });
});

describe('curves', () => {
  it('evaluates control points at each layer as the plan does', () => {
    expect(curveAtLayers([0, 1], 4)).toEqual([0, 1 / 3, 2 / 3, 1]);
    expect(curveAtLayers([0, 1, 0], 5)).toEqual([0, 0.5, 1, 0.5, 0]);
    expect(curveAtLayers([0.2, 0.8], 1)).toEqual([0.8]);
  });

  it('describes α in one line', () => {
    expect(describeAlpha(-0.5)).toBe('−0.5');
    expect(describeAlpha([0, 0.5, 1])).toBe('curve 0 → 0.5 → 1');
    expect(describeAlpha([{ filter: 'self_attn', value: 0.25 }, { value: [0, 1] }])).toBe('self_attn 0.25, others curve 0 → 1');
  });
});
