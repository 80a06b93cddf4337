import { useEffect, useId, useState, type KeyboardEvent } from 'react';
import { formatNumber } from '../format.ts';
import { ALPHA_MAX, ALPHA_MIN, ALPHA_STEP, alphaAfterKey, parseAlpha } from './alpha.ts';

/**
 * A typed value that reaches the store only when it parses; while it does not, the field says why and the
 * last good value stays in force. Changes from elsewhere (a slider, an import) replace the text.
 */
export function useParsedText<T>(value: T, format: (v: T) => string, parse: (text: string) => T | string, equal: (a: T, b: T) => boolean, onCommit: (v: T) => void) {
  const [text, setText] = useState(() => format(value));
  const [error, setError] = useState<string | null>(null);
  useEffect(() => {
    setText((current) => {
      const parsed = parse(current);
      return typeof parsed !== 'string' && equal(parsed, value) ? current : format(value);
    });
    setError(null);
    // Only an outside change of the value rewrites the text.
  }, [value]);
  const change = (next: string) => {
    setText(next);
    const parsed = parse(next);
    if (typeof parsed === 'string') {
      setError(parsed);
      return;
    }
    setError(null);
    if (!equal(parsed, value)) onCommit(parsed);
  };
  return { text, error, change };
}

/** An α as a number field: −1…2, the step of the slider. */
export function AlphaNumber({ value, onChange, label, testid, id }: { value: number; onChange: (v: number) => void; label: string; testid: string; id?: string }) {
  const fallbackId = useId();
  const inputId = id ?? fallbackId;
  const { text, error, change } = useParsedText(value, String, parseAlpha, Object.is, onChange);
  return (
    <span className="number-field">
      <input
        id={inputId}
        data-testid={testid}
        type="number"
        min={ALPHA_MIN}
        max={ALPHA_MAX}
        step={ALPHA_STEP}
        value={text}
        aria-label={label}
        aria-invalid={error !== null}
        onChange={(e) => change(e.target.value)}
      />
      {error && (
        <span className="field-error" role="alert" data-testid={`${testid}-error`}>
          {error}
        </span>
      )}
    </span>
  );
}

/** The α slider: arrows ±0.05, PageUp/PageDown ±0.25, Home/End to the ends. */
export function AlphaSlider({ value, onChange, label, testid }: { value: number; onChange: (v: number) => void; label: string; testid: string }) {
  const onKeyDown = (e: KeyboardEvent<HTMLInputElement>) => {
    const next = alphaAfterKey(e.key, value);
    if (next === null) return;
    // The browser's own steps differ (PageUp is a tenth of the range): ours are the same everywhere.
    e.preventDefault();
    if (next !== value) onChange(next);
  };
  return (
    <input
      type="range"
      className="alpha-slider"
      data-testid={testid}
      aria-label={label}
      aria-valuetext={`α ${formatNumber(value)}`}
      min={ALPHA_MIN}
      max={ALPHA_MAX}
      step={ALPHA_STEP}
      value={value}
      onKeyDown={onKeyDown}
      onChange={(e) => onChange(Number(e.target.value))}
    />
  );
}
