import type { ReactNode } from 'react';
import { ChatView } from './chat/ChatView.tsx';
import { SweepView } from './sweep/SweepView.tsx';
import { CompatibilityReport } from './CompatibilityReport.tsx';
import { DiagnosticsView } from './diagnostics/DiagnosticsView.tsx';
import { LibraryView } from './library/LibraryView.tsx';
import { MergePanel } from './merge/MergePanel.tsx';
import { RecipeEditor } from './recipe/RecipeEditor.tsx';
import { describeRecipe } from './recipe/settings.ts';
import { ModelSlot } from './slots/ModelSlot.tsx';
import { allSlots, getWorker, slotTitle, useStudio, type VectorState } from './store.ts';

const BLURBS = {
  base: 'the pretrained starting point',
  chat: 'base + instruction tuning',
  cp: 'base + continual pretraining',
};

export function App() {
  const error = useStudio((s) => s.error);
  const notice = useStudio((s) => s.notice);
  const dismissNotice = useStudio((s) => s.dismissNotice);
  const several = useStudio((s) => s.vectors.length > 1);

  return (
    <div className="page">
      <header className="masthead">
        <h1>Chat Vector Studio</h1>
        <p className="formula">
          θ = θ<sub>cp</sub> + {several ? 'Σ α' : 'α'}·(θ<sub>chat</sub> − θ<sub>base</sub>)
        </p>
        <p className="lede">Everything runs in this browser tab: models are read from their headers and configs, nothing is uploaded.</p>
      </header>

      {error && (
        <div className="alert" role="alert" data-testid="error">
          {error}
        </div>
      )}
      {notice && (
        <div className="notice" role="status" data-testid="notice">
          {notice}{' '}
          <button type="button" className="link-button" onClick={dismissNotice}>
            Dismiss
          </button>
        </div>
      )}

      <nav className="views" aria-label="Sections">
        {SECTIONS.map(({ id, title }) => (
          <a key={id} href={`#${id}`}>
            {title}
          </a>
        ))}
      </nav>
      {SECTIONS.map(({ id, Body }) => (
        <div key={id} id={id} className="anchor">
          <Body />
        </div>
      ))}
    </div>
  );
}

function Library() {
  return <LibraryView getWorker={getWorker} />;
}

/** The page top to bottom: sources → recipe → plan → merge → output; the nav jumps between them. */
const SECTIONS: { id: string; title: string; Body: () => ReactNode }[] = [
  { id: 'models', title: 'Models', Body: Slots },
  { id: 'recipe', title: 'Recipe', Body: RecipeEditor },
  { id: 'report', title: 'Report', Body: Report },
  { id: 'diagnostics', title: 'Diagnostics', Body: DiagnosticsView },
  { id: 'merge', title: 'Merge', Body: Merge },
  { id: 'library', title: 'Library', Body: Library },
  { id: 'chat', title: 'Chat', Body: ChatView },
  { id: 'sweep', title: 'α sweep', Body: SweepView },
];

function Merge() {
  const recipe = useStudio((s) => s.recipe);
  // Only a finished plan of this very recipe, without errors, lets a merge start.
  const planOk = useStudio((s) => !!s.report?.ok && s.reportRecipe === s.recipe && !s.planning);
  return <MergePanel getWorker={getWorker} recipe={recipe} planOk={planOk} />;
}

function Slots() {
  const cp = useStudio((s) => s.cp);
  const vectors = useStudio((s) => s.vectors);
  const addVector = useStudio((s) => s.addVector);
  const removeVector = useStudio((s) => s.removeVector);
  const [first, ...more] = vectors;
  return (
    <section className="slots-section" aria-label="Models">
      <div className="slots">
        <ModelSlot slot={first.base} title="Base" blurb={BLURBS.base} />
        <ModelSlot slot={first.chat} title="Chat" blurb={BLURBS.chat} />
        <ModelSlot slot={cp} title="CP" blurb={BLURBS.cp} />
      </div>
      {more.map((v, i) => (
        <ExtraVector key={v.key} vector={v} number={i + 2} onRemove={() => removeVector(v.key)} />
      ))}
      <button type="button" className="small-button add-vector" data-testid="add-vector" onClick={addVector}>
        + Add another chat vector
      </button>
    </section>
  );
}

function ExtraVector({ vector, number, onRemove }: { vector: VectorState; number: number; onRemove: () => void }) {
  return (
    <div className="extra-vector" data-testid={`extra-vector-${number}`}>
      <div className="section-head">
        <h3>Chat vector {number}</h3>
        <button type="button" className="small-button quiet" data-testid="remove-vector" onClick={onRemove}>
          Remove
        </button>
      </div>
      <div className="slots">
        <ModelSlot slot={vector.base} title={`Base ${number}`} blurb="the model this chat model was tuned from" />
        <ModelSlot slot={vector.chat} title={`Chat ${number}`} blurb="another instruction-tuned model" />
      </div>
    </div>
  );
}

function Report() {
  const report = useStudio((s) => s.report);
  const reportRecipe = useStudio((s) => s.reportRecipe);
  const planning = useStudio((s) => s.planning);
  const planError = useStudio((s) => s.planError);
  const phase = useStudio((s) => s.phase);
  const empty = useStudio((s) =>
    allSlots(s)
      .filter((slot) => !slot.loaded)
      .map((slot) => slotTitle(s, slot.id))
      .join(', '),
  );

  if (planError) {
    return (
      <div className="alert" role="alert" data-testid="plan-error">
        {planError}
      </div>
    );
  }
  if (report && reportRecipe) return <CompatibilityReport report={report} recipe={describeRecipe(reportRecipe)} planning={planning} />;
  if (empty) {
    return (
      <p className="card muted" data-testid="report-waiting">
        {phase === 'loading' ? 'Loading the models…' : `Choose a model for ${empty} to see the compatibility report.`}
      </p>
    );
  }
  return (
    <p className="card muted" data-testid="loading">
      Planning the merge…
    </p>
  );
}
