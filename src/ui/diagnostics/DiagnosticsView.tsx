import { lazy, Suspense, useState } from 'react';
import { formatBytes, formatCount } from '../format.ts';
import { useStudio } from '../store.ts';
import { useCurrentInputs, useCurrentResult, useDiagnostics } from './diagnostics-store.ts';
import { aboutTime } from './numbers.ts';
import './diagnostics.css';

/** The chart library loads with the first result, not with the page. */
const DiagnosticsResults = lazy(() => import('./DiagnosticsResults.tsx').then((m) => ({ default: m.DiagnosticsResults })));

/**
 * How the chat vector τ = chat − base compares with what continual pretraining changed (cp − base): computed on
 * demand in the studio worker (every weight of base, chat and cp is read once), kept until a model changes.
 */
export function DiagnosticsView() {
  const vectors = useStudio((s) => s.vectors);
  const hasRecipe = useStudio((s) => s.recipe !== null);
  const [chosen, setChosen] = useState<number | null>(null);
  const vector = vectors.find((v) => v.key === chosen) ?? vectors[0];
  const index = vectors.indexOf(vector);
  const inputs = useCurrentInputs(vector.key);
  const result = useCurrentResult(vector.key);
  const running = useDiagnostics((s) => s.running);
  const outcome = useDiagnostics((s) => s.outcome);
  const older = useDiagnostics((s) => s.result !== null && s.result.inputs.vectorKey === vector.key && !result);
  const { compute } = useDiagnostics.getState();
  const readBytes = inputs ? inputs.base.weightFileBytes + inputs.chat.weightFileBytes + inputs.cp.weightFileBytes : 0;
  const thisRunning = running !== null && running.vectorKey === vector.key;

  return (
    <section className="card diagnostics" aria-label="Diagnostics" data-testid="diagnostics" data-state={result ? 'ready' : thisRunning ? 'running' : 'idle'}>
      <div className="section-head">
        <h2>Diagnostics</h2>
        {vectors.length > 1 && (
          <label className="inline-label diag-vector">
            Chat vector{' '}
            <select data-testid="diag-vector" value={vector.key} onChange={(e) => setChosen(Number(e.target.value))}>
              {vectors.map((v, i) => (
                <option key={v.key} value={v.key}>
                  {i + 1}: {v.chat.loaded?.ref ?? '(empty)'} − {v.base.loaded?.ref ?? '(empty)'}
                </option>
              ))}
            </select>
          </label>
        )}
      </div>
      <p className="diag-lede">
        How the chat vector τ = θ<sub>chat</sub> − θ<sub>base</sub> compares, layer by layer, with what continual pretraining changed (θ<sub>cp</sub> − θ<sub>base</sub>): the same numbers as{' '}
        <code>chatvec stats</code>. Nothing is merged.
      </p>

      {!result && (
        <div className="diag-start">
          <button type="button" className="primary-button" data-testid="diag-compute" disabled={!hasRecipe || !inputs || running !== null} onClick={() => void compute(vector.key)}>
            Compute diagnostics
          </button>
          <span className="muted small" data-testid="diag-cost">
            {inputs ? `Reads every weight of base, chat and cp once: ${formatBytes(readBytes)}.` : 'Load base, chat and cp first.'}
            {older && ' The models changed since the last diagnostics.'}
          </span>
        </div>
      )}
      {result && index >= 0 && (
        <p className="muted small diag-measured" data-testid="diag-measured">
          Chat vector {index + 1}: τ = <span className="mono">{result.inputs.chat.ref}</span> − <span className="mono">{result.inputs.base.ref}</span>, against cp{' '}
          <span className="mono">{result.inputs.cp.ref}</span>; {formatCount(result.stats.total.elements)} elements of {result.stats.total.tensors} tensors.
        </p>
      )}
      {thisRunning && <Progress />}
      {outcome?.kind === 'cancelled' && !running && !result && (
        <p className="muted small" data-testid="diag-cancelled">
          Cancelled; nothing was kept.
        </p>
      )}
      {outcome?.kind === 'failed' && !running && (
        <div className="alert" role="alert" data-testid="diag-error">
          {outcome.message}
        </div>
      )}

      {result && (
        <Suspense fallback={<p className="muted small">Loading the charts…</p>}>
          <DiagnosticsResults stats={result.stats} />
        </Suspense>
      )}
      <Explanations />
    </section>
  );
}

function Progress() {
  const progress = useDiagnostics((s) => s.progress);
  const cancelling = useDiagnostics((s) => s.cancelling);
  const { cancel } = useDiagnostics.getState();
  const total = progress?.bytesTotal ?? 0, done = progress?.bytesDone ?? 0;
  const percent = total > 0 ? Math.min(100, (done / total) * 100) : 0;
  return (
    <div className="diag-progress" data-testid="diag-progress" aria-live="polite">
      <div className="diag-progress-head">
        <span>{cancelling ? 'Cancelling at the next chunk…' : 'Reading base, chat and cp…'}</span>
        <button type="button" className="small-button" data-testid="diag-cancel" disabled={cancelling} onClick={() => void cancel()}>
          Cancel
        </button>
      </div>
      <progress max={100} value={percent} aria-label="Diagnostics progress" data-testid="diag-progress-bar" />
      <p className="small">
        <span data-testid="diag-bytes">
          {formatBytes(done)} of {total > 0 ? formatBytes(total) : '…'}
        </span>
        {' · '}
        <span data-testid="diag-rate">{progress && progress.bytesPerSecond > 0 ? `${(progress.bytesPerSecond / 1e6).toFixed(1)} MB/s` : '—'}</span>
        {' · '}
        <span data-testid="diag-eta">{aboutTime(progress?.etaSeconds ?? null)} left</span>
        {progress?.tensor && <span className="mono muted diag-tensor"> {progress.tensor}</span>}
      </p>
    </div>
  );
}

/** What each quantity says about the merge, in plain words. */
function Explanations() {
  return (
    <details className="diag-explain" data-testid="diag-explain" open>
      <summary>What these numbers mean</summary>
      <dl>
        <dt>‖τ‖</dt>
        <dd>
          How far instruction tuning moved the weights (the length of chat − base). The merge adds α·τ, so this is the largest change α = 1 makes; a layer with a
          much larger ‖τ‖ than its neighbours is where the chat skills were written most, and where α matters most.
        </dd>
        <dt>‖τ‖ / ‖cp‖</dt>
        <dd>
          The same change relative to the size of cp's own weights. Small values (a few percent) mean the chat vector is a light touch on cp; a high value means the
          merge rewrites a large part of that layer and may disturb what cp knows. Lowering α there (a per-layer curve) is the usual answer.
        </dd>
        <dt>cos(τ, cp − base)</dt>
        <dd>
          Whether instruction tuning and continual pretraining moved the weights in the same direction. Near 0 (the usual case) they are unrelated and simply add up.
          Positive: both pushed the same way, so the merge pushes further than either did. Negative: τ partly undoes what continual pretraining learned (for example
          the new language), so adding it can erase that knowledge; consider a lower α or skipping those tensors.
        </dd>
        <dt>sign agreement</dt>
        <dd>The share of single weights that both changes moved the same way; about 50% is what unrelated changes give.</dd>
      </dl>
    </details>
  );
}
