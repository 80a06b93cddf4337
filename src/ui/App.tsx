import type { ReactNode } from 'react';
import type { EmbeddingPolicy } from '../core/recipe.ts';
import type { ModelRole, ModelSummary } from '../../workers/studio-api.ts';
import { CompatibilityReport } from './CompatibilityReport.tsx';
import { ALPHA_MAX, ALPHA_MIN, ALPHA_STEP, useStudio } from './store.ts';
import { formatCount, formatNumber } from './format.ts';

const ROLES: { role: ModelRole; title: string; blurb: string }[] = [
  { role: 'base', title: 'Base', blurb: 'the pretrained starting point' },
  { role: 'chat', title: 'Chat', blurb: 'base + instruction tuning' },
  { role: 'cp', title: 'CP', blurb: 'base + continual pretraining' },
];

export function App() {
  const phase = useStudio((s) => s.phase);
  const models = useStudio((s) => s.models);
  const error = useStudio((s) => s.error);
  const report = useStudio((s) => s.report);
  const planning = useStudio((s) => s.planning);

  return (
    <div className="page">
      <header className="masthead">
        <h1>Chat Vector Studio</h1>
        <p className="formula">
          θ = θ<sub>cp</sub> + α·(θ<sub>chat</sub> − θ<sub>base</sub>)
        </p>
        <p className="lede">Everything runs in this browser tab: models are read from their headers and configs, nothing is uploaded. Showing the built-in demo models.</p>
      </header>

      {error && (
        <div className="alert" role="alert" data-testid="error">
          {error}
        </div>
      )}

      <section className="slots" aria-label="Models">
        {ROLES.map(({ role, title, blurb }) => (
          <ModelSlot key={role} title={title} blurb={blurb} role={role} model={models.find((m) => m.role === role)} loading={phase === 'loading'} />
        ))}
      </section>

      <Controls disabled={phase !== 'ready'} />

      {report ? <CompatibilityReport report={report} planning={planning} /> : phase === 'loading' && <p className="muted" data-testid="loading">Loading the demo models…</p>}
    </div>
  );
}

function ModelSlot({ title, blurb, role, model, loading }: { title: string; blurb: string; role: ModelRole; model?: ModelSummary; loading: boolean }) {
  return (
    <article className="card slot" data-testid={`slot-${role}`}>
      <h2>
        {title} <span className="slot-label">{model?.label}</span>
      </h2>
      <p className="muted small">{blurb}</p>
      {model ? (
        <dl className="facts">
          <Fact label="Architecture" testid="architecture">
            {model.architecture ?? 'unknown'}
            {model.modelType && <span className="muted"> ({model.modelType})</span>}
          </Fact>
          <Fact label="Parameters" testid="parameters">
            {formatCount(model.parameters)}
          </Fact>
          <Fact label="Dtype" testid="dtype">
            {model.dtypes.map((d) => (model.dtypes.length > 1 ? `${d.dtype} ×${d.count}` : d.dtype)).join(', ') || 'no tensors'}
          </Fact>
          <Fact label="Size" testid="size">
            {formatCount(model.weightFileBytes)} bytes
          </Fact>
          <Fact label="Vocabulary" testid="vocab">
            {model.vocabSize === null ? 'not in config' : formatCount(model.vocabSize)}
          </Fact>
          <Fact label="Chat template" testid="chat-template">
            {model.chatTemplate ? 'yes' : 'no'}
          </Fact>
        </dl>
      ) : (
        <p className="muted">{loading ? 'Loading…' : 'Not loaded'}</p>
      )}
    </article>
  );
}

function Fact({ label, testid, children }: { label: string; testid: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd data-testid={`summary-${testid}`}>{children}</dd>
    </>
  );
}

function Controls({ disabled }: { disabled: boolean }) {
  const alphaText = useStudio((s) => s.alphaText);
  const alpha = useStudio((s) => s.alpha);
  const alphaError = useStudio((s) => s.alphaError);
  const embeddings = useStudio((s) => s.embeddings);
  const setAlphaText = useStudio((s) => s.setAlphaText);
  const setEmbeddings = useStudio((s) => s.setEmbeddings);

  return (
    <section className="card controls" aria-label="Recipe">
      <div className="control">
        <label htmlFor="alpha">α (chat vector weight)</label>
        <div className="alpha-inputs">
          <input
            id="alpha"
            data-testid="alpha"
            type="number"
            min={ALPHA_MIN}
            max={ALPHA_MAX}
            step={ALPHA_STEP}
            value={alphaText}
            disabled={disabled}
            aria-invalid={alphaError !== null}
            aria-describedby="alpha-help"
            onChange={(e) => setAlphaText(e.target.value)}
          />
          <input type="range" aria-label="α slider" min={ALPHA_MIN} max={ALPHA_MAX} step={ALPHA_STEP} value={alpha} disabled={disabled} onChange={(e) => setAlphaText(e.target.value)} />
        </div>
        <p id="alpha-help" className={alphaError ? 'field-error' : 'muted small'} data-testid={alphaError ? 'alpha-error' : undefined}>
          {alphaError ?? `From ${formatNumber(ALPHA_MIN)} to ${formatNumber(ALPHA_MAX)}: 1 adds the whole chat vector τ = chat − base, 0 leaves cp unchanged.`}
        </p>
      </div>
      <div className="control">
        <label htmlFor="embeddings">Embeddings whose vocabulary differs</label>
        <select id="embeddings" data-testid="embeddings" value={embeddings} disabled={disabled} onChange={(e) => setEmbeddings(e.target.value as EmbeddingPolicy)}>
          <option value="overlap">overlap: add α·τ to the shared rows</option>
          <option value="skip">skip: keep cp's tensors unchanged</option>
        </select>
        <p className="muted small">Applies to embed_tokens and lm_head when cp has a larger (expanded) vocabulary.</p>
      </div>
    </section>
  );
}
