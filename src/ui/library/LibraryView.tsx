import type { Remote } from 'comlink';
import { useEffect, useState } from 'react';
import { formatBytes } from '../../core/format.ts';
import type { CacheEntryInfo, StorageInfo } from '../../../workers/contract.ts';
import type { StudioLibraryEntry } from '../../../workers/studio-api.ts';
import type { StudioWorkerApi } from '../../../workers/studio.worker.ts';
import { formatCount } from '../format.ts';
import { LIBRARY_CHANGED } from '../merge/merge-store.ts';
import { canSaveToFolder, clearExports } from './export.ts';
import { useLibrary } from './library-store.ts';
import '../merge/merge.css';
import './library.css';

export interface LibraryViewProps {
  getWorker: () => Remote<StudioWorkerApi>;
}

/** Merged models in this browser's storage: what they are, their files and checksums, export and delete; storage use and the Hub cache. */
export function LibraryView({ getWorker }: LibraryViewProps) {
  const entries = useLibrary((s) => s.entries);
  const storage = useLibrary((s) => s.storage);
  const cache = useLibrary((s) => s.cache);
  const error = useLibrary((s) => s.error);
  const { refresh } = useLibrary.getState();

  useEffect(() => {
    const update = () => {
      try {
        void refresh(getWorker());
      } catch {
        /* the worker is not started yet; the next library change asks again */
      }
    };
    update();
    void clearExports();
    window.addEventListener(LIBRARY_CHANGED, update);
    return () => window.removeEventListener(LIBRARY_CHANGED, update);
  }, [getWorker, refresh]);

  return (
    <section className="card library" aria-label="Library" data-testid="library">
      <div className="library-head">
        <h2>Library</h2>
        <button type="button" className="small-button" data-testid="library-refresh" onClick={() => void refresh(getWorker())}>
          Refresh
        </button>
      </div>
      <p className="muted small">Merged models kept in this browser's private storage. They stay across reloads unless the browser needs the space; “Keep data” asks it not to evict them.</p>
      {storage && <StorageBar storage={storage} getWorker={getWorker} />}
      {error && (
        <div className="alert" role="alert" data-testid="library-error">
          {error}
        </div>
      )}
      {entries === null ? (
        <p className="muted">Reading the library…</p>
      ) : entries.length === 0 ? (
        <p className="muted" data-testid="library-empty">
          No merged models yet.
        </p>
      ) : (
        entries.map((entry) => <LibraryEntryCard key={entry.id} entry={entry} getWorker={getWorker} />)
      )}
      <HubCache cache={cache} getWorker={getWorker} />
    </section>
  );
}

function StorageBar({ storage, getWorker }: { storage: StorageInfo; getWorker: () => Remote<StudioWorkerApi> }) {
  const { persist } = useLibrary.getState();
  const percent = storage.quota > 0 ? Math.min(100, (storage.usage / storage.quota) * 100) : 0;
  return (
    <div className="storage" data-testid="storage">
      <div className="storage-line">
        <span data-testid="storage-usage">
          {formatBytes(storage.usage)} of {formatBytes(storage.quota)} used ({percent < 1 && storage.usage > 0 ? '<1' : percent.toFixed(0)}%)
        </span>
        {storage.persisted ? (
          <span className="badge ok" data-testid="storage-persisted">
            Data kept (persistent)
          </span>
        ) : (
          <button type="button" className="small-button" data-testid="storage-persist" onClick={() => void persist(getWorker())} title="Ask the browser not to evict the library when disk space runs low">
            Keep data (persist)
          </button>
        )}
      </div>
      <div className="bar" role="progressbar" aria-label="Storage used" aria-valuemin={0} aria-valuemax={100} aria-valuenow={Math.round(percent)}>
        <div className="bar-fill" style={{ width: `${percent}%` }} />
      </div>
    </div>
  );
}

function LibraryEntryCard({ entry, getWorker }: { entry: StudioLibraryEntry; getWorker: () => Remote<StudioWorkerApi> }) {
  const exporting = useLibrary((s) => s.exports[entry.id]);
  const { exportModel, remove } = useLibrary.getState();
  const [confirming, setConfirming] = useState(false);
  const complete = entry.status === 'complete';
  const busy = exporting?.busy ?? false;

  return (
    <article className="library-entry" data-testid="library-entry" data-id={entry.id}>
      <header className="library-entry-head">
        <h3 data-testid="library-entry-name">{entry.name}</h3>
        <span className={`badge ${complete ? 'ok' : 'warn'}`} data-testid="library-entry-status">
          {complete ? 'complete' : 'interrupted'}
        </span>
      </header>
      <p className="muted small library-meta">
        <span data-testid="library-entry-date">{formatDate(entry.createdAt)}</span> · <span data-testid="library-entry-size">{formatBytes(entry.totalBytes)}</span> · {entry.files.length} files ·{' '}
        <span className="mono">library/{entry.id}</span>
      </p>

      <ul className="library-inputs" data-testid="library-entry-inputs">
        {entry.inputs.map((i) => (
          <li key={i.role}>
            <span className="input-role">{i.role}</span> <span className="mono">{i.ref}</span>
            {i.revision && <span className="muted mono"> @ {i.revision.slice(0, 12)}</span>}
            <span className="muted">
              {' '}
              — {formatBytes(i.bytes)}, {formatCount(i.tensors)} tensors
            </span>
          </li>
        ))}
      </ul>

      <details className="library-recipe">
        <summary>Recipe</summary>
        <pre className="mono" data-testid="library-entry-recipe">
          {JSON.stringify(entry.recipe, null, 2)}
        </pre>
      </details>

      <FileTable entry={entry} getWorker={getWorker} />

      <div className="button-row library-actions">
        {complete && canSaveToFolder() && (
          <button type="button" className="small-button" data-testid="library-save-folder" disabled={busy} onClick={() => void exportModel(entry, 'folder')}>
            Save to folder…
          </button>
        )}
        {complete && (
          <button type="button" className="small-button" data-testid="library-zip" disabled={busy} onClick={() => void exportModel(entry, 'zip')}>
            Download .zip
          </button>
        )}
        {!complete && <span className="muted small">Resume or discard this merge in the merge panel.</span>}
        <span className="spacer" />
        {confirming ? (
          <>
            <span className="small">Delete {entry.name} for good?</span>
            <button type="button" className="small-button danger" data-testid="library-delete-confirm" onClick={() => void remove(getWorker(), entry.id)}>
              Delete
            </button>
            <button type="button" className="small-button quiet" onClick={() => setConfirming(false)}>
              Keep
            </button>
          </>
        ) : (
          complete && (
            <button type="button" className="small-button" data-testid="library-delete" disabled={busy} onClick={() => setConfirming(true)}>
              Delete…
            </button>
          )
        )}
      </div>
      {exporting?.message && (
        <p className={exporting.failed ? 'field-error' : 'muted small'} data-testid="library-export-status" role={exporting.failed ? 'alert' : 'status'}>
          {exporting.message}
        </p>
      )}
    </article>
  );
}

function FileTable({ entry, getWorker }: { entry: StudioLibraryEntry; getWorker: () => Remote<StudioWorkerApi> }) {
  const hashing = useLibrary((s) => s.hashing);
  const { hash, exportModel } = useLibrary.getState();
  const complete = entry.status === 'complete';
  return (
    <div className="table-scroll">
      <table className="library-files">
        <thead>
          <tr>
            <th>File</th>
            <th className="num">Size</th>
            <th>SHA-256</th>
            <th />
          </tr>
        </thead>
        <tbody>
          {entry.files.map((f) => {
            const sum = entry.sha256[f.name];
            return (
              <tr key={f.name} data-testid="library-file" data-file={f.name}>
                <td className="mono">{f.name}</td>
                <td className="num" data-testid="library-file-size">
                  {formatBytes(f.size)}
                </td>
                <td className="hash">
                  {sum ? (
                    <code data-testid="library-file-sha256">{sum}</code>
                  ) : complete ? (
                    <button type="button" className="link-button" data-testid="library-file-hash" disabled={hashing[`${entry.id}/${f.name}`]} onClick={() => void hash(getWorker(), entry.id, f.name)}>
                      {hashing[`${entry.id}/${f.name}`] ? 'computing…' : 'compute'}
                    </button>
                  ) : (
                    <span className="muted">—</span>
                  )}
                </td>
                <td>
                  {complete && (
                    <button type="button" className="link-button" data-testid="library-file-download" onClick={() => void exportModel(entry, { file: f.name })}>
                      Download
                    </button>
                  )}
                </td>
              </tr>
            );
          })}
        </tbody>
      </table>
    </div>
  );
}

function HubCache({ cache, getWorker }: { cache: CacheEntryInfo[]; getWorker: () => Remote<StudioWorkerApi> }) {
  const { evict } = useLibrary.getState();
  const total = cache.reduce((a, c) => a + c.bytes, 0);
  return (
    <details className="hub-cache" data-testid="hub-cache">
      <summary>
        Hub cache: {cache.length === 0 ? 'empty' : `${cache.length} file${cache.length > 1 ? 's' : ''}, ${formatBytes(total)}`}
      </summary>
      {cache.length === 0 ? (
        <p className="muted small">Tensors read from the Hub are kept here so that a second plan or merge does not download them again.</p>
      ) : (
        <table>
          <tbody>
            {cache.map((c) => (
              <tr key={c.key} data-testid="hub-cache-entry">
                <td className="mono">{c.repo}</td>
                <td className="mono muted">{c.commit.slice(0, 12)}</td>
                <td className="mono">{c.path}</td>
                <td className="num">{formatBytes(c.bytes)}</td>
                <td>
                  <button type="button" className="link-button" data-testid="hub-cache-evict" onClick={() => void evict(getWorker(), c.key)}>
                    Evict
                  </button>
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </details>
  );
}

/** `2025-06-01 14:03`, in local time: the same in every locale. */
function formatDate(iso: string): string {
  const d = new Date(iso);
  if (Number.isNaN(d.getTime())) return iso;
  const p = (n: number) => String(n).padStart(2, '0');
  return `${d.getFullYear()}-${p(d.getMonth() + 1)}-${p(d.getDate())} ${p(d.getHours())}:${p(d.getMinutes())}`;
}
