import type { Remote } from 'comlink';
import { useEffect, useRef, useState, type ChangeEvent } from 'react';
import { formatBytes } from '../../core/format.ts';
import type { Recipe } from '../../core/recipe.ts';
import type { BackendChoice, BackendReport, MergeProgressInfo, PublicSourceSpec } from '../../../workers/contract.ts';
import type { PendingMerge } from '../../../workers/studio-api.ts';
import type { StudioWorkerApi } from '../../../workers/studio.worker.ts';
import { checkModelName } from '../../../workers/library.ts';
import { errorMessage } from '../store.ts';
import { isAbort, specFromFolderInput } from '../slots/sources.ts';
import { LIBRARY_CHANGED, suggestedName, useMerge } from './merge-store.ts';
import './merge.css';

export interface MergePanelProps {
  getWorker: () => Remote<StudioWorkerApi>;
  /** The recipe over the loaded models; null while a slot is empty. */
  recipe: Recipe | null;
  /** The plan of `recipe` has no errors. */
  planOk: boolean;
}

/** Name the output, merge into the library with progress, cancel; resume or discard interrupted merges. */
export function MergePanel({ getWorker, recipe, planOk }: MergePanelProps) {
  const nameText = useMerge((s) => s.nameText);
  const status = useMerge((s) => s.status);
  const runningName = useMerge((s) => s.runningName);
  const progress = useMerge((s) => s.progress);
  const error = useMerge((s) => s.error);
  const outcome = useMerge((s) => s.outcome);
  const pending = useMerge((s) => s.pending);
  const { setName, merge, cancel, refreshPending } = useMerge.getState();

  useEffect(() => {
    const refresh = () => {
      try {
        void refreshPending(getWorker());
      } catch {
        /* the worker is not started yet; the next library change asks again */
      }
    };
    refresh();
    window.addEventListener(LIBRARY_CHANGED, refresh);
    return () => window.removeEventListener(LIBRARY_CHANGED, refresh);
  }, [getWorker, refreshPending]);

  const [backend, setBackend] = useState<BackendChoice>('cpu');
  const name = nameText ?? suggestedName(recipe);
  const nameError = nameText === null && !recipe ? null : checkModelName(name);
  const busy = status !== 'idle';
  const blocker = busy ? null : !recipe ? 'Load a model into every slot to merge.' : !planOk ? 'Merging needs a finished plan without errors: see the compatibility report.' : nameError;

  return (
    <section className="card merge-panel" aria-label="Merge" data-testid="merge-panel">
      <h2>Merge</h2>
      <p className="muted small">The merged model is written to this browser's storage (the library below), from where it can be saved or downloaded.</p>

      {pending.map((p) => (
        <PendingBanner key={p.entry.id} pending={p} getWorker={getWorker} busy={busy} />
      ))}

      <form
        className="merge-form"
        onSubmit={(e) => {
          e.preventDefault();
          if (recipe && !blocker) void merge(getWorker(), recipe, name.trim());
        }}
      >
        <label htmlFor="merge-name">Output name</label>
        <input id="merge-name" data-testid="merge-name" type="text" value={name} placeholder="my-model-chat" disabled={busy} aria-invalid={nameError !== null} onChange={(e) => setName(e.target.value)} />
        <label htmlFor="merge-backend">Compute on</label>
        <select
          id="merge-backend"
          data-testid="merge-backend"
          value={backend}
          disabled={busy}
          onChange={(e) => {
            const choice = e.target.value as BackendChoice;
            setBackend(choice);
            void getWorker().setBackend(choice);
          }}
        >
          <option value="cpu">CPU (WebAssembly SIMD)</option>
          <option value="gpu">GPU (WebGPU)</option>
          <option value="auto">auto: time both, keep the faster</option>
        </select>
        <button type="submit" className="primary-button" data-testid="merge-start" disabled={busy || blocker !== null}>
          Merge
        </button>
      </form>
      {blocker && (
        <p className="muted small" data-testid="merge-blocked">
          {blocker}
        </p>
      )}

      {busy && <Progress name={runningName ?? ''} progress={progress} cancelling={status === 'cancelling'} onCancel={() => void cancel(getWorker())} />}

      {error && (
        <div className="alert merge-alert" role="alert" data-testid="merge-error">
          {error}
        </div>
      )}
      {!busy && outcome?.kind === 'done' && (
        <p className="merge-outcome ok" data-testid="merge-done">
          Merged <strong>{outcome.entry.name}</strong>: {outcome.entry.files.length} files, {formatBytes(outcome.entry.totalBytes)}. It is in the library below.
        </p>
      )}
      {!busy && outcome?.kind === 'done' && outcome.entry.backend && <BackendLine report={outcome.entry.backend} />}
      {!busy && outcome?.kind === 'cancelled' && (
        <p className="merge-outcome" data-testid="merge-cancelled">
          The merge of <strong>{outcome.name}</strong> was cancelled. Its files are kept: resume it above, or discard it.
        </p>
      )}
    </section>
  );
}

/** Which backend ran the arithmetic and how fast; why the GPU was not used, when it was asked for. */
function BackendLine({ report }: { report: BackendReport }) {
  const mbs = (b: number) => `${(b / 1e6).toFixed(1)} MB/s`;
  const c = report.calibration;
  return (
    <p className="muted small" data-testid="merge-backend-report" data-backend={report.name}>
      Computed on <strong>{report.name === 'gpu' ? 'GPU' : 'CPU'}</strong> ({report.detail}) at {mbs(report.bytesPerSecond)}
      {c && ` · auto measured CPU ${mbs(c.cpuBytesPerSecond)}, GPU ${mbs(c.gpuBytesPerSecond)} (${c.gpu})`}
      {report.note && ` · ${report.note}`}
    </p>
  );
}

function Progress({ name, progress, cancelling, onCancel }: { name: string; progress: MergeProgressInfo | null; cancelling: boolean; onCancel: () => void }) {
  const total = progress?.bytesTotal ?? 0;
  const done = progress?.bytesDone ?? 0;
  const percent = total > 0 ? Math.min(100, (done / total) * 100) : 0;
  const phase = !progress || progress.phase === 'checking' ? 'Checking the inputs…' : progress.phase === 'finishing' ? 'Writing config, tokenizer and model card…' : `Merging ${name}`;
  return (
    <div className="merge-progress" data-testid="merge-progress" aria-live="polite">
      <div className="merge-progress-head">
        <span data-testid="merge-phase">{cancelling ? 'Cancelling at the next chunk…' : phase}</span>
        <button type="button" className="small-button" data-testid="merge-cancel" disabled={cancelling} onClick={onCancel}>
          Cancel
        </button>
      </div>
      <div className="bar" role="progressbar" aria-label="Merge progress" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(percent)} data-testid="merge-progress-bar">
        <div className="bar-fill" style={{ width: `${percent}%` }} />
      </div>
      <dl className="merge-stats">
        <dt>Written</dt>
        <dd data-testid="merge-bytes">
          {formatBytes(done)} of {formatBytes(total)} ({percent.toFixed(0)}%)
        </dd>
        <dt>Tensor</dt>
        <dd className="mono" data-testid="merge-tensor">
          {progress?.tensor || '—'}
        </dd>
        <dt>Speed</dt>
        <dd data-testid="merge-rate">{progress && progress.bytesPerSecond > 0 ? `${(progress.bytesPerSecond / 1e6).toFixed(1)} MB/s` : '—'}</dd>
        <dt>Time left</dt>
        <dd data-testid="merge-eta">{formatEta(progress?.etaSeconds ?? null)}</dd>
      </dl>
    </div>
  );
}

/** "An interrupted merge of X was found (N% done) — Resume / Discard", with any local folder it needs chosen again. */
function PendingBanner({ pending, getWorker, busy }: { pending: PendingMerge; getWorker: () => Remote<StudioWorkerApi>; busy: boolean }) {
  const message = useMerge((s) => s.pendingErrors[pending.entry.id]);
  const { resume, discard } = useMerge.getState();
  const percent = pending.bytesTotal > 0 ? Math.floor((pending.bytesDone / pending.bytesTotal) * 100) : 0;
  const local = pending.needs.filter((n) => n.spec.kind === 'files' || n.spec.kind === 'directory');
  const automatic = pending.needs.filter((n) => !local.includes(n));
  return (
    <div className="pending-merge" role="status" data-testid="pending-merge" data-id={pending.entry.id}>
      <p>
        An interrupted merge of <strong data-testid="pending-name">{pending.entry.name}</strong> was found (<span data-testid="pending-percent">{percent}% done</span>).
      </p>
      {local.length > 0 && (
        <ul className="pending-needs" data-testid="pending-needs">
          {local.map((n) => (
            <LocalNeed key={n.ref} id={pending.entry.id} need={n} getWorker={getWorker} />
          ))}
        </ul>
      )}
      {automatic.length > 0 && <p className="muted small">Its inputs {automatic.map((n) => n.ref).join(', ')} are loaded again when you resume.</p>}
      {message && (
        <p className="field-error" data-testid="pending-error">
          {message}
        </p>
      )}
      <div className="button-row">
        <button type="button" className="primary-button" data-testid="pending-resume" disabled={busy || local.length > 0} onClick={() => void resume(getWorker(), pending.entry.id)}>
          Resume
        </button>
        <button type="button" className="small-button" data-testid="pending-discard" disabled={busy} onClick={() => void discard(getWorker(), pending.entry.id)}>
          Discard
        </button>
      </div>
    </div>
  );
}

/** A local folder an interrupted merge needs: allow access to the remembered folder again, or choose it again. */
function LocalNeed({ id, need, getWorker }: { id: string; need: { ref: string; spec: PublicSourceSpec }; getWorker: () => Remote<StudioWorkerApi> }) {
  const input = useRef<HTMLInputElement>(null);
  const { provide } = useMerge.getState();
  const spec = need.spec;
  const folderName = spec.kind === 'directory' ? spec.handle.name : spec.kind === 'files' ? spec.name : need.ref;

  const allow = async () => {
    if (spec.kind !== 'directory') return;
    try {
      const handle = spec.handle as FileSystemDirectoryHandle & { requestPermission?(d: { mode: 'read' }): Promise<PermissionState> };
      if ((await handle.requestPermission?.({ mode: 'read' })) === 'denied') throw new Error(`Reading "${folderName}" was not allowed.`);
      await provide(getWorker(), id, { kind: 'directory', handle: spec.handle });
    } catch (e) {
      if (!isAbort(e)) useMerge.setState((s) => ({ pendingErrors: { ...s.pendingErrors, [id]: errorMessage(e) } }));
    }
  };
  const chosen = (e: ChangeEvent<HTMLInputElement>) => {
    const files = [...(e.target.files ?? [])];
    e.target.value = '';
    try {
      const picked = specFromFolderInput(files);
      // The recipe names the folder by its old name: the model must be found under that reference again.
      if (picked.kind === 'files') void provide(getWorker(), id, { ...picked, name: folderName });
    } catch (err) {
      useMerge.setState((s) => ({ pendingErrors: { ...s.pendingErrors, [id]: errorMessage(err) } }));
    }
  };

  return (
    <li>
      Needs the local folder <strong>{folderName}</strong> ({need.ref}).{' '}
      {spec.kind === 'directory' ? (
        <button type="button" className="small-button" data-testid="pending-allow" onClick={() => void allow()}>
          Allow access again
        </button>
      ) : (
        <>
          <button type="button" className="small-button" data-testid="pending-choose" onClick={() => input.current?.click()}>
            Choose the folder again…
          </button>
          <input ref={input} type="file" hidden {...{ webkitdirectory: '' }} onChange={chosen} />
        </>
      )}
    </li>
  );
}

function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '—';
  const s = Math.max(0, Math.round(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.floor(s / 60);
  if (m < 60) return `${m} min ${String(s % 60).padStart(2, '0')} s`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}
