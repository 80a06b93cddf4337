import { describe, expect, it } from 'vitest';
import { csvField } from '../core/csv.ts';
import { comparableSweepResult, POINT_CSV_COLUMNS, RESPONSE_CSV_COLUMNS, sweepPointsCsv, sweepResponsesCsv, sweepResultJson } from './export.ts';
import { scoreResponse, summarizeAlpha } from './metrics.ts';
import type { SweepResult } from './types.ts';

function result(): SweepResult {
  const r1 = scoreResponse({ promptId: 'a', alpha: 0, ids: [5, 6, 2], text: '네, "좋아요"', endedWithEos: true, lang: 'ko' });
  const r2 = scoreResponse({ promptId: 'a', alpha: 1, ids: [7, 7], text: 'ok,\nfine', endedWithEos: false, lang: 'ko' });
  return {
    chatvecSweep: 1, id: 'sweep-x', createdAt: '2025-01-02T03:04:05.000Z',
    models: { cp: 'cp', base: 'base', chat: 'chat' },
    promptSet: { id: 'user:t', name: 't', lang: 'ko', source: 'test', prompts: [{ id: 'a', text: '질문, 하나' }] },
    settings: { alphas: [0, 1], maxNewTokens: 2, repetitionPenalty: 1, system: '', threshold: 0.9 },
    points: [
      summarizeAlpha(0, [r1], { perplexity: 3.25, perplexityTokens: 40, alphaChangeMs: 12.345, generateMs: 100, perplexityMs: 7.06 }),
      summarizeAlpha(1, [r2], { perplexity: null, alphaChangeMs: 10, generateMs: 90.04 }),
    ],
    responses: [r1, r2],
    recommendation: { alpha: 0, threshold: 0.9, reasoning: '…' },
    elapsedMs: 250,
  };
}

describe('sweep export', () => {
  it('csvField quotes commas, quotes and line breaks (RFC 4180)', () => {
    expect(csvField('plain')).toBe('plain');
    expect(csvField('a,b')).toBe('"a,b"');
    expect(csvField('say "hi"')).toBe('"say ""hi"""');
    expect(csvField('a\nb')).toBe('"a\nb"');
    expect(csvField(null)).toBe('');
    expect(csvField(0.1)).toBe('0.1');
  });
  it('per-response CSV: exact header and rows', () => {
    expect(sweepResponsesCsv(result())).toBe(
      `${RESPONSE_CSV_COLUMNS.join(',')}\n` +
      '0,a,true,true,2,1,1,4,0,0,0,0,"질문, 하나","네, ""좋아요""",5 6 2\n' +
      '1,a,false,false,2,0.5,1,0,0,0,6,0,"질문, 하나","ok,\nfine",7 7\n',
    );
    expect(RESPONSE_CSV_COLUMNS.join(',')).toBe('alpha,prompt_id,in_target_language,ended_with_eos,response_tokens,distinct1,distinct2,letters_hangul,letters_han,letters_kana,letters_latin,letters_other,prompt,response,ids');
  });
  it('per-α CSV: exact header and rows, the recommended α marked', () => {
    expect(sweepPointsCsv(result())).toBe(
      'alpha,target_language_rate,format_adherence,mean_response_tokens,mean_distinct1,mean_distinct2,perplexity,alpha_change_ms,generate_ms,perplexity_ms,recommended\n' +
      '0,1,1,2,1,1,3.25,12.3,100.0,7.1,true\n' +
      '1,0,0,2,0.5,1,,10.0,90.0,,false\n',
    );
    expect(POINT_CSV_COLUMNS.length).toBe(11);
  });
  it('JSON round-trips; comparableSweepResult drops id, createdAt and times only', () => {
    const r = result();
    expect(JSON.parse(sweepResultJson(r))).toEqual(r);
    const c = comparableSweepResult(r);
    expect(Object.keys(c).sort()).toEqual(['chatvecSweep', 'models', 'points', 'promptSet', 'recommendation', 'responses', 'settings']);
    expect(c.points[0]).toEqual({ alpha: 0, targetLanguageRate: 1, formatAdherence: 1, meanResponseTokens: 2, meanDistinct1: 1, meanDistinct2: 1, perplexity: 3.25, perplexityTokens: 40 });
  });
});
