import { useEffect, useRef, useState } from 'react';
import { parseRecipeFile } from '../../core/recipe-io.ts';
import { errorMessage, useStudio, type ImportResult } from '../store.ts';

/** A recipe file larger than this is not a recipe. */
const MAX_RECIPE_BYTES = 1_000_000;

/** Import a mergekit YAML config (or our JSON recipe), pasted or from a file. */
export function MergekitImportDialog({ open, onClose, onImported }: { open: boolean; onClose: () => void; onImported: (result: ImportResult, from: string) => void }) {
  const dialog = useRef<HTMLDialogElement>(null);
  const importRecipe = useStudio((s) => s.importRecipe);
  const [text, setText] = useState('');
  const [error, setError] = useState<string | null>(null);

  useEffect(() => {
    const d = dialog.current;
    if (!d) return;
    if (open && !d.open) {
      setError(null);
      d.showModal();
    } else if (!open && d.open) d.close();
  }, [open]);

  const run = (source: string, file?: string) => {
    try {
      const recipe = parseRecipeFile(source, file);
      onImported(importRecipe(recipe), file ?? 'the pasted config');
      setText('');
      onClose();
    } catch (e) {
      setError(errorMessage(e));
    }
  };

  return (
    <dialog ref={dialog} className="dialog" data-testid="import-dialog" aria-labelledby="import-title" onClose={onClose}>
      <h2 id="import-title">Import a recipe</h2>
      <p className="muted small">
        A mergekit <code>task_arithmetic</code> config (mergekit_config.yml) or a Chat Vector Studio recipe (.json). Models it names are matched to the loaded slots by reference.
      </p>
      <textarea data-testid="import-text" rows={14} spellCheck={false} placeholder={'merge_method: task_arithmetic\nbase_model: …'} value={text} onChange={(e) => setText(e.target.value)} />
      <div className="dialog-row">
        <label className="small-button file-button">
          Upload .yml / .yaml / .json…
          <input
            type="file"
            accept=".yml,.yaml,.json,application/json,application/yaml,text/yaml"
            data-testid="import-file"
            hidden
            onChange={async (e) => {
              const file = e.target.files?.[0];
              e.target.value = '';
              if (!file) return;
              if (file.size > MAX_RECIPE_BYTES) {
                setError(`${file.name}: ${file.size.toLocaleString('en-US')} bytes is too large for a recipe (at most ${MAX_RECIPE_BYTES.toLocaleString('en-US')}).`);
                return;
              }
              run(await file.text(), file.name);
            }}
          />
        </label>
      </div>
      {error && (
        <p className="field-error" role="alert" data-testid="import-error">
          {error}
        </p>
      )}
      <div className="dialog-actions">
        <button type="button" className="small-button" onClick={onClose}>
          Cancel
        </button>
        <button type="button" className="primary-button" data-testid="import-run" disabled={text.trim() === ''} onClick={() => run(text)}>
          Import
        </button>
      </div>
    </dialog>
  );
}
