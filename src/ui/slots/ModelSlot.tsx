import { useEffect, useRef, useState, type DragEvent, type FormEvent, type ReactNode } from 'react';
import type { LoadedSource, SourceSpec } from '../../../workers/contract.ts';
import { formatBytes, formatCount } from '../format.ts';
import { demoRoleFor, errorMessage, useStudio, type Slot } from '../store.ts';
import { LIBRARY_CHANGED } from '../merge/merge-store.ts';
import { checkHubUrl, hubFormRef, normalizeHubUrl } from './hub-settings.ts';
import { DEMO_ROLES, describeSource, directoryPicker, hubRefParts, isAbort, specFromDrop, specFromFolderInput } from './sources.ts';

type Panel = 'hub' | 'demo' | 'library' | null;

/** The test id of a slot: slot-base, slot-chat, slot-cp, then slot-base-2, slot-chat-2, … */
export function slotTestId(title: string): string {
  return `slot-${title.toLowerCase().replace(/\s+/g, '-')}`;
}

/** One model: what it is, where it came from, and the ways to fill it (folder, drop, Hub, demo, library). */
export function ModelSlot({ slot, title, blurb }: { slot: Slot; title: string; blurb: string }) {
  const loadSlot = useStudio((s) => s.loadSlot);
  const retrySlot = useStudio((s) => s.retrySlot);
  const clearSlot = useStudio((s) => s.clearSlot);
  const [panel, setPanel] = useState<Panel>(null);
  const [dropping, setDropping] = useState(false);
  const [pickError, setPickError] = useState<string | null>(null);
  const folderInput = useRef<HTMLInputElement>(null);
  useEffect(() => folderInput.current?.setAttribute('webkitdirectory', ''), []);

  const load = (spec: SourceSpec) => {
    setPickError(null);
    setPanel(null);
    void loadSlot(slot.id, spec);
  };
  const chooseFolder = async () => {
    const picker = directoryPicker();
    if (!picker) {
      folderInput.current?.click();
      return;
    }
    try {
      load({ kind: 'directory', handle: await picker({ id: 'chatvec-model', mode: 'read' }) });
    } catch (e) {
      if (!isAbort(e)) setPickError(errorMessage(e));
    }
  };
  const onDrop = (e: DragEvent) => {
    e.preventDefault();
    setDropping(false);
    specFromDrop(e.dataTransfer).then(load, (err: unknown) => setPickError(errorMessage(err)));
  };
  const { loaded } = slot;
  const toggle = (p: Panel) => setPanel(panel === p ? null : p);

  return (
    <article
      className={`card slot${dropping ? ' slot-dropping' : ''}`}
      data-testid={slotTestId(title)}
      data-status={slot.status}
      aria-busy={slot.status === 'loading'}
      onDragOver={(e) => {
        if (![...e.dataTransfer.types].includes('Files')) return;
        e.preventDefault();
        e.dataTransfer.dropEffect = 'copy';
        setDropping(true);
      }}
      onDragLeave={(e) => {
        if (!e.currentTarget.contains(e.relatedTarget as Node | null)) setDropping(false);
      }}
      onDrop={onDrop}
    >
      <h2>
        {title}{' '}
        <span className="slot-label" data-testid="slot-ref">
          {loaded?.ref}
        </span>
      </h2>
      <p className="muted small">{blurb}</p>

      {slot.status === 'loading' && slot.pending && (
        <p className="slot-loading" data-testid="slot-loading">
          <span className="spinner" aria-hidden="true" /> Loading {describeSource(slot.pending)}…
        </p>
      )}
      {(slot.error || pickError) && (
        <div className="slot-error" role="alert" data-testid="slot-error">
          {pickError ?? slot.error}
          {slot.error && loaded && <p className="small">Still using {loaded.ref}.</p>}
          {slot.error && !loaded && slot.spec && (
            <button type="button" className="small-button" onClick={() => retrySlot(slot.id)}>
              Try again
            </button>
          )}
        </div>
      )}
      {!loaded && slot.wanted && slot.status !== 'loading' && <WantedModel slot={slot} />}

      {loaded ? (
        <Summary model={loaded} />
      ) : (
        slot.status !== 'loading' && !slot.wanted && <p className="muted slot-empty">Not loaded: choose a model folder, drop one here, or pick one below.</p>
      )}
      {loaded && slot.source && (
        <p className="muted small slot-source">
          <span data-testid="slot-source">
            From {describeSource(slot.source)}
            {loaded.commit && <span className="mono"> · commit {loaded.commit.slice(0, 10)}</span>}
          </span>{' '}
          ·{' '}
          <button type="button" className="link-button" data-testid="clear-slot" onClick={() => clearSlot(slot.id)}>
            Clear
          </button>
        </p>
      )}

      <div className="slot-actions" role="group" aria-label={`Load the ${title} model`}>
        <button type="button" className="small-button" data-testid="choose-folder" onClick={() => void chooseFolder()}>
          Folder…
        </button>
        <button type="button" className="small-button" aria-expanded={panel === 'hub'} data-testid="open-hub" title="A Hugging Face Hub repository" onClick={() => toggle('hub')}>
          Hub…
        </button>
        <button type="button" className="small-button" aria-expanded={panel === 'demo'} data-testid="open-demo" onClick={() => toggle('demo')}>
          Demo
        </button>
        <button type="button" className="small-button" aria-expanded={panel === 'library'} data-testid="open-library" onClick={() => toggle('library')}>
          Library
        </button>
        {!loaded && (slot.wanted || slot.error) && (
          <button type="button" className="small-button quiet" data-testid="clear-slot" onClick={() => clearSlot(slot.id)}>
            Clear
          </button>
        )}
        {/* The fallback where showDirectoryPicker is missing (Firefox, Safari); tests fill it directly. */}
        <input
          ref={folderInput}
          type="file"
          multiple
          hidden
          data-testid="folder-input"
          onChange={(e) => {
            const files = [...(e.target.files ?? [])];
            e.target.value = '';
            if (files.length === 0) return;
            try {
              load(specFromFolderInput(files));
            } catch (err) {
              setPickError(errorMessage(err));
            }
          }}
        />
      </div>

      {panel === 'hub' && <HubForm initial={slot.wanted ? hubRefParts(slot.wanted) : null} onLoad={load} />}
      {panel === 'demo' && <DemoPicker suggested={demoRoleFor(slot.id)} onLoad={load} />}
      {panel === 'library' && <LibraryPicker onLoad={load} />}
      {dropping && <div className="drop-hint">Drop a model folder (or its files) to load it as {title}</div>}
    </article>
  );
}

function WantedModel({ slot }: { slot: Slot }) {
  const folder = slot.source?.kind === 'folder';
  return (
    <p className="slot-wanted" data-testid="slot-wanted">
      Needed: <code>{slot.wanted}</code>
      <span className="muted small">
        {' '}
        — {folder ? `choose the folder "${slot.source?.kind === 'folder' ? slot.source.name : ''}" again (local files are not kept across reloads)` : 'load it from a folder, the Hub or the library'}
      </span>
    </p>
  );
}

function Summary({ model }: { model: LoadedSource }) {
  return (
    <dl className="facts">
      <Fact label="Architecture" testid="architecture">
        {model.architecture ?? 'unknown'}
        {model.modelType && <span className="muted"> ({model.modelType})</span>}
      </Fact>
      <Fact label="Parameters" testid="parameters">
        {formatCount(model.parameters)}
      </Fact>
      <Fact label="Layers" testid="layers">
        {model.layers ?? 'not in config'}
      </Fact>
      <Fact label="Dtype" testid="dtype">
        {model.dtypes.map((d) => (model.dtypes.length > 1 ? `${d.dtype} ×${d.count}` : d.dtype)).join(', ') || 'no tensors'}
      </Fact>
      <Fact label="Size" testid="size">
        <span title={`${formatCount(model.weightFileBytes)} bytes`}>{formatBytes(model.weightFileBytes)}</span>
      </Fact>
      <Fact label="Vocabulary" testid="vocab">
        {model.vocabSize === null ? 'not in config' : formatCount(model.vocabSize)}
      </Fact>
      <Fact label="Chat template" testid="chat-template">
        {model.chatTemplate ? 'yes' : 'no'}
      </Fact>
    </dl>
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

function HubForm({ initial, onLoad }: { initial: { repo: string; revision?: string } | null; onLoad: (spec: SourceSpec) => void }) {
  const hub = useStudio((s) => s.hub);
  const setHub = useStudio((s) => s.setHub);
  const [repo, setRepo] = useState(initial?.repo ?? '');
  const [revision, setRevision] = useState(initial?.revision ?? '');
  const [error, setError] = useState<string | null>(null);
  const submit = (e: FormEvent) => {
    e.preventDefault();
    const ref = hubFormRef(repo, revision);
    const problem = typeof ref === 'string' ? ref : checkHubUrl(hub.hubUrl.trim());
    if (problem || typeof ref === 'string') {
      setError(problem);
      return;
    }
    setError(null);
    onLoad({ kind: 'hub', ...ref, hubUrl: normalizeHubUrl(hub.hubUrl), ...(hub.accessToken ? { accessToken: hub.accessToken } : {}) });
  };
  return (
    <form className="slot-panel hub-form" data-testid="hub-form" onSubmit={submit}>
      <label>
        Repository
        <input type="text" data-testid="hub-repo" placeholder="owner/name" value={repo} autoComplete="off" spellCheck={false} onChange={(e) => setRepo(e.target.value)} />
      </label>
      <label>
        Revision <span className="muted small">(optional: branch, tag or commit)</span>
        <input type="text" data-testid="hub-revision" placeholder="main" value={revision} autoComplete="off" spellCheck={false} onChange={(e) => setRevision(e.target.value)} />
      </label>
      <label>
        Access token <span className="muted small">(optional, for gated or private models)</span>
        <input type="password" data-testid="hub-token" placeholder="hf_…" value={hub.accessToken} autoComplete="off" onChange={(e) => setHub({ accessToken: e.target.value })} />
      </label>
      <label className="checkbox">
        <input type="checkbox" data-testid="hub-remember" checked={hub.rememberToken} onChange={(e) => setHub({ rememberToken: e.target.checked })} />
        Remember the token in this browser (otherwise it is forgotten when the tab closes)
      </label>
      <label>
        Hub endpoint
        <input type="url" data-testid="hub-url" value={hub.hubUrl} spellCheck={false} onChange={(e) => setHub({ hubUrl: e.target.value })} />
      </label>
      {error && (
        <p className="field-error" role="alert" data-testid="hub-error">
          {error}
        </p>
      )}
      <button type="submit" className="primary-button" data-testid="hub-load">
        Load from the Hub
      </button>
    </form>
  );
}

function DemoPicker({ suggested, onLoad }: { suggested: string; onLoad: (spec: SourceSpec) => void }) {
  return (
    <div className="slot-panel" data-testid="demo-picker">
      <p className="muted small">The built-in demo models (4 layers, 64 wide): offline and instant.</p>
      <div className="button-row">
        {DEMO_ROLES.map((role) => (
          <button key={role} type="button" className={role === suggested ? 'primary-button' : 'small-button'} data-testid={`demo-${role}`} onClick={() => onLoad({ kind: 'demo', role })}>
            demo/{role}
          </button>
        ))}
      </div>
    </div>
  );
}

function LibraryPicker({ onLoad }: { onLoad: (spec: SourceSpec) => void }) {
  const library = useStudio((s) => s.library);
  const refreshLibrary = useStudio((s) => s.refreshLibrary);
  useEffect(() => {
    const refresh = () => void refreshLibrary();
    refresh();
    // A merge that finishes (or a model deleted) while the picker is open changes the list.
    window.addEventListener(LIBRARY_CHANGED, refresh);
    return () => window.removeEventListener(LIBRARY_CHANGED, refresh);
  }, [refreshLibrary]);
  const complete = library.entries?.filter((e) => e.status === 'complete') ?? [];
  return (
    <div className="slot-panel" data-testid="library-picker">
      {library.loading && <p className="muted small">Listing the library…</p>}
      {library.error && (
        <p className="field-error" role="alert">
          {library.error}
        </p>
      )}
      {library.entries && complete.length === 0 && <p className="muted small">No merged models in the library yet: merge one below, it is kept in this browser.</p>}
      {complete.length > 0 && (
        <ul className="library-list">
          {complete.map((entry) => (
            <li key={entry.id}>
              <button type="button" className="link-button" onClick={() => onLoad({ kind: 'library', id: entry.id })}>
                {entry.name}
              </button>{' '}
              <span className="muted small">
                {formatBytes(entry.totalBytes)} · {new Date(entry.createdAt).toLocaleString('en-US')}
              </span>
            </li>
          ))}
        </ul>
      )}
    </div>
  );
}
