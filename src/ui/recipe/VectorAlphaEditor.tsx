import { lazy, Suspense } from 'react';
import type { Gradient } from '../../core/recipe.ts';
import { useStudio, type VectorState } from '../store.ts';
import { useLayerTauNorms } from '../diagnostics/diagnostics-store.ts';
import { formatNumber } from '../format.ts';
import { ALPHA_MAX, ALPHA_MIN, formatGradient, parseGradient, type AlphaEditor, type AlphaOverride } from './alpha.ts';
import { AlphaNumber, AlphaSlider, useParsedText } from './fields.tsx';

/** The chart library loads with the first curve, not with the page. */
const AlphaCurve = lazy(() => import('./AlphaCurve.tsx').then((m) => ({ default: m.AlphaCurve })));

/** Module filters offered with one click (substrings of Llama/Qwen tensor names). */
const OVERRIDE_PRESETS = ['self_attn', 'mlp'];

/** α of one chat vector: a constant or a per-layer curve, plus optional per-module overrides. */
export function VectorAlphaEditor({ vector, index, numLayers }: { vector: VectorState; index: number; numLayers: number }) {
  const setAlpha = useStudio((s) => s.setAlpha);
  const alpha = vector.alpha;
  const update = (patch: Partial<AlphaEditor>) => setAlpha(vector.key, { ...alpha, ...patch });
  const name = (ref: string | undefined) => ref ?? '(empty slot)';
  const inputId = `alpha-${vector.key}`;
  const tauNorms = useLayerTauNorms(vector.key, numLayers);

  return (
    <fieldset className="vector-alpha" data-testid={`vector-${index}`}>
      <legend>
        Chat vector {index + 1}{' '}
        <span className="muted small mono">
          τ = {name(vector.chat.loaded?.ref)} − {name(vector.base.loaded?.ref)}
        </span>
      </legend>
      <div className="segmented" role="radiogroup" aria-label={`How α of chat vector ${index + 1} varies`}>
        <label>
          <input type="radio" name={`mode-${vector.key}`} data-testid="alpha-mode-constant" checked={alpha.mode === 'constant'} onChange={() => update({ mode: 'constant' })} />
          Constant α
        </label>
        <label>
          <input type="radio" name={`mode-${vector.key}`} data-testid="alpha-mode-curve" checked={alpha.mode === 'curve'} onChange={() => update({ mode: 'curve' })} />
          Per-layer curve
        </label>
      </div>

      {alpha.mode === 'constant' ? (
        <div className="control">
          <label htmlFor={inputId}>α (chat vector weight)</label>
          <div className="alpha-inputs">
            <AlphaNumber id={inputId} value={alpha.constant} onChange={(v) => update({ constant: v })} label="α" testid="alpha" />
            <AlphaSlider value={alpha.constant} onChange={(v) => update({ constant: v })} label="α slider" testid="alpha-slider" />
          </div>
          <p className="muted small">
            From {formatNumber(ALPHA_MIN)} to {formatNumber(ALPHA_MAX)}: 1 adds the whole chat vector, 0 leaves cp unchanged. Slider keys: arrows ±0.05, Page Up/Down ±0.25, Home/End.
          </p>
        </div>
      ) : (
        <Suspense fallback={<p className="muted small">Loading the chart…</p>}>
          <AlphaCurve points={alpha.curve} numLayers={numLayers} onChange={(curve) => update({ curve })} testid="alpha-curve" tauNorms={tauNorms} />
        </Suspense>
      )}

      <Overrides alpha={alpha} update={update} />
    </fieldset>
  );
}

function Overrides({ alpha, update }: { alpha: AlphaEditor; update: (patch: Partial<AlphaEditor>) => void }) {
  const setOverride = (i: number, o: AlphaOverride) => update({ overrides: alpha.overrides.map((x, j) => (j === i ? o : x)) });
  const add = (filter: string) => update({ overrides: [...alpha.overrides, { filter, value: alpha.mode === 'constant' ? alpha.constant : 1 }] });
  const used = new Set(alpha.overrides.map((o) => o.filter));
  return (
    <div className="overrides" data-testid="overrides">
      <h4>Per-module α</h4>
      {alpha.overrides.length === 0 ? (
        <p className="muted small">Every tensor gets the α above. Add a filter to give tensors whose name contains it their own α (the first matching filter wins).</p>
      ) : (
        <ul className="override-list">
          {alpha.overrides.map((o, i) => (
            <OverrideRow key={i} index={i} override={o} onChange={(next) => setOverride(i, next)} onRemove={() => update({ overrides: alpha.overrides.filter((_, j) => j !== i) })} />
          ))}
        </ul>
      )}
      <div className="button-row">
        {OVERRIDE_PRESETS.filter((p) => !used.has(p)).map((p) => (
          <button key={p} type="button" className="small-button" data-testid={`override-add-${p}`} onClick={() => add(p)}>
            + {p}
          </button>
        ))}
        <button type="button" className="small-button" data-testid="override-add" onClick={() => add('')}>
          + Filter…
        </button>
      </div>
      {alpha.overrides.length > 0 && (
        <label className="inline-label">
          Tensors no filter matches:{' '}
          <select data-testid="override-others" value={alpha.others} onChange={(e) => update({ others: e.target.value as AlphaEditor['others'] })}>
            <option value="alpha">get the α above</option>
            <option value="unchanged">keep cp's values (no chat vector)</option>
          </select>
        </label>
      )}
    </div>
  );
}

function OverrideRow({ index, override, onChange, onRemove }: { index: number; override: AlphaOverride; onChange: (o: AlphaOverride) => void; onRemove: () => void }) {
  const value = useParsedText<Gradient>(override.value, formatGradient, parseGradient, (a, b) => JSON.stringify(a) === JSON.stringify(b), (v) => onChange({ ...override, value: v }));
  return (
    <li className="override" data-testid={`override-${index}`}>
      <label>
        <span className="muted small">name contains</span>
        <input type="text" className="mono" data-testid="override-filter" value={override.filter} placeholder="self_attn" spellCheck={false} aria-invalid={override.filter.trim() === ''} onChange={(e) => onChange({ ...override, filter: e.target.value })} />
      </label>
      <label>
        <span className="muted small">α (or a curve: 0, 0.5, 1)</span>
        <input type="text" data-testid="override-value" value={value.text} aria-invalid={value.error !== null} onChange={(e) => value.change(e.target.value)} />
      </label>
      <button type="button" className="icon-button" aria-label={`Remove the filter ${override.filter || index + 1}`} onClick={onRemove}>
        ×
      </button>
      {override.filter.trim() === '' && <p className="field-error">Enter part of a tensor name; until then this line is not used.</p>}
      {value.error && (
        <p className="field-error" role="alert">
          {value.error}
        </p>
      )}
    </li>
  );
}
