import { useState } from 'react';
import { formatSize, recipeToMergekitYaml } from '../../core/recipe-io.ts';
import { parseSize, type EmbeddingPolicy, type OutputDtype } from '../../core/recipe.ts';
import { errorMessage, useStudio, type ImportResult } from '../store.ts';
import { MergekitImportDialog } from './MergekitDialog.tsx';
import { NORMS_PRESET, OUTPUT_DTYPES, parseTokenList, SHARD_PRESETS } from './settings.ts';
import { useParsedText } from './fields.tsx';
import { VectorAlphaEditor } from './VectorAlphaEditor.tsx';

/** Layers the curve is drawn over before any model is loaded. */
const FALLBACK_LAYERS = 8;
const MERGEKIT_FILE = 'mergekit_config.yml';

export function RecipeEditor() {
  const vectors = useStudio((s) => s.vectors);
  const cpLayers = useStudio((s) => s.cp.loaded?.layers ?? null);
  const reportLayers = useStudio((s) => s.report?.numLayers ?? null);
  const numLayers = cpLayers ?? reportLayers ?? FALLBACK_LAYERS;

  return (
    <section className="card recipe" aria-label="Recipe" data-testid="recipe">
      <div className="section-head">
        <h2>Recipe</h2>
        <MergekitActions />
      </div>
      <div className="vectors">
        {vectors.map((v, i) => (
          <VectorAlphaEditor key={v.key} vector={v} index={i} numLayers={numLayers} />
        ))}
      </div>
      <TensorSettings />
      <OutputSettings />
    </section>
  );
}

function TensorSettings() {
  const embeddings = useStudio((s) => s.settings.embeddings);
  const updateSettings = useStudio((s) => s.updateSettings);
  return (
    <div className="recipe-grid">
      <div className="control">
        <label htmlFor="embeddings">Embeddings whose vocabulary differs</label>
        <select id="embeddings" data-testid="embeddings" value={embeddings} onChange={(e) => updateSettings({ embeddings: e.target.value as EmbeddingPolicy })}>
          <option value="overlap">overlap: add α·τ to the shared rows</option>
          <option value="skip">skip: keep cp's tensors unchanged</option>
        </select>
        <p className="muted small">Applies to embed_tokens and lm_head when cp has a larger (expanded) vocabulary.</p>
      </div>
      <SkipPatterns />
    </div>
  );
}

function SkipPatterns() {
  const skip = useStudio((s) => s.settings.skip);
  const updateSettings = useStudio((s) => s.updateSettings);
  const [draft, setDraft] = useState('');
  const [error, setError] = useState<string | null>(null);
  const add = (pattern: string) => {
    const p = pattern.trim();
    if (p === '') return setError('Enter a pattern such as *norm* or model.layers.0.*');
    if (skip.includes(p)) return setError(`${p} is already in the list.`);
    setError(null);
    setDraft('');
    updateSettings({ skip: [...skip, p] });
  };
  return (
    <div className="control" data-testid="skip">
      <label htmlFor="skip-draft">Tensors kept from cp (skip patterns)</label>
      {skip.length > 0 && (
        <ul className="chip-list" data-testid="skip-list">
          {skip.map((p) => (
            <li key={p} className="chip">
              <code>{p}</code>
              <button type="button" className="icon-button" aria-label={`Remove ${p}`} onClick={() => updateSettings({ skip: skip.filter((q) => q !== p) })}>
                ×
              </button>
            </li>
          ))}
        </ul>
      )}
      <div className="inline-form">
        <input
          id="skip-draft"
          type="text"
          className="mono"
          data-testid="skip-draft"
          placeholder="*norm*"
          value={draft}
          spellCheck={false}
          onChange={(e) => setDraft(e.target.value)}
          onKeyDown={(e) => {
            if (e.key === 'Enter') {
              e.preventDefault();
              add(draft);
            }
          }}
        />
        <button type="button" className="small-button" data-testid="skip-add" onClick={() => add(draft)}>
          Add
        </button>
        <button type="button" className="small-button" data-testid="skip-norms" disabled={skip.includes(NORMS_PRESET)} onClick={() => add(NORMS_PRESET)}>
          + Norms
        </button>
      </div>
      {error ? <p className="field-error">{error}</p> : <p className="muted small">Globs over tensor names: * is any run of characters, ? one character.</p>}
    </div>
  );
}

function OutputSettings() {
  const settings = useStudio((s) => s.settings);
  const updateSettings = useStudio((s) => s.updateSettings);
  const [customShard, setCustomShard] = useState(!SHARD_PRESETS.includes(settings.shardSize));
  const shardText = useParsedText(
    settings.shardSize,
    (n) => String(formatSize(n)),
    (text) => {
      try {
        return parseSize(text);
      } catch (e) {
        return errorMessage(e);
      }
    },
    Object.is,
    (shardSize) => updateSettings({ shardSize }),
  );
  const tokens = useParsedText(settings.copyTokenRows, (t) => t.join(', '), parseTokenList, (a, b) => a.join('\n') === b.join('\n'), (copyTokenRows) => updateSettings({ copyTokenRows }));
  const shardChoice = customShard || !SHARD_PRESETS.includes(settings.shardSize) ? 'custom' : String(settings.shardSize);

  return (
    <div className="recipe-grid">
      <div className="control">
        <label htmlFor="dtype">Output dtype</label>
        <select id="dtype" data-testid="dtype" value={settings.dtype} onChange={(e) => updateSettings({ dtype: e.target.value as OutputDtype })}>
          {OUTPUT_DTYPES.map((d) => (
            <option key={d.value} value={d.value}>
              {d.label}
            </option>
          ))}
        </select>
      </div>
      <div className="control">
        <label htmlFor="shard-size">Largest shard</label>
        <div className="inline-form">
          <select
            id="shard-size"
            data-testid="shard-size"
            value={shardChoice}
            onChange={(e) => {
              const custom = e.target.value === 'custom';
              setCustomShard(custom);
              if (!custom) updateSettings({ shardSize: Number(e.target.value) });
            }}
          >
            {SHARD_PRESETS.map((n) => (
              <option key={n} value={n}>
                {formatSize(n)}
              </option>
            ))}
            <option value="custom">custom…</option>
          </select>
          {shardChoice === 'custom' && (
            <input type="text" data-testid="shard-custom" aria-label="Custom shard size" value={shardText.text} aria-invalid={shardText.error !== null} onChange={(e) => shardText.change(e.target.value)} />
          )}
        </div>
        {shardText.error && shardChoice === 'custom' && <p className="field-error">{shardText.error}</p>}
      </div>
      <div className="control">
        <label htmlFor="copy-tokens">Copy special-token rows from chat</label>
        <input id="copy-tokens" type="text" className="mono" data-testid="copy-tokens" placeholder="<|eot_id|>, <|start_header_id|>" spellCheck={false} value={tokens.text} onChange={(e) => tokens.change(e.target.value)} />
        <p className="muted small">Comma-separated tokens whose embedding and lm_head rows are taken from the chat model as they are.</p>
      </div>
    </div>
  );
}

function MergekitActions() {
  const recipe = useStudio((s) => s.recipe);
  const cpDtype = useStudio((s) => s.cp.loaded?.dtypes[0]?.dtype);
  const [dialogOpen, setDialogOpen] = useState(false);
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string; missing?: ImportResult['missing'] } | null>(null);

  const yaml = (): string | null => {
    if (!recipe) return null;
    try {
      return recipeToMergekitYaml(recipe, ['BF16', 'F16', 'F32'].includes(cpDtype ?? '') ? { cpDtype } : {});
    } catch (e) {
      setMessage({ kind: 'error', text: `This recipe cannot be written as a mergekit config: ${errorMessage(e)}` });
      return null;
    }
  };
  const download = () => {
    const text = yaml();
    if (text === null) return;
    const url = URL.createObjectURL(new Blob([text], { type: 'application/yaml' }));
    const a = document.createElement('a');
    a.href = url;
    a.download = MERGEKIT_FILE;
    a.click();
    setTimeout(() => URL.revokeObjectURL(url), 1000);
    setMessage({ kind: 'ok', text: `Saved ${MERGEKIT_FILE}.` });
  };
  const copy = async () => {
    const text = yaml();
    if (text === null) return;
    try {
      await navigator.clipboard.writeText(text);
      setMessage({ kind: 'ok', text: 'The mergekit config is on the clipboard.' });
    } catch (e) {
      setMessage({ kind: 'error', text: `The clipboard could not be written (${errorMessage(e)}); use the download instead.` });
    }
  };
  const imported = (result: ImportResult, from: string) => {
    const parts = [`Imported ${from}.`];
    if (result.matched) parts.push(`${result.matched} model${result.matched === 1 ? '' : 's'} matched loaded slots.`);
    if (result.loading) parts.push(`Loading ${result.loading} built-in model${result.loading === 1 ? '' : 's'}.`);
    setMessage({ kind: 'ok', text: parts.join(' '), missing: result.missing });
  };
  const waiting = recipe ? undefined : 'Fill every slot first';

  return (
    <>
      <div className="button-row">
        <button type="button" className="small-button" data-testid="import-open" onClick={() => setDialogOpen(true)}>
          Import mergekit YAML…
        </button>
        <button type="button" className="small-button" data-testid="export-download" disabled={!recipe} title={waiting} onClick={download}>
          Download {MERGEKIT_FILE}
        </button>
        <button type="button" className="small-button" data-testid="export-copy" disabled={!recipe} title={waiting} onClick={() => void copy()}>
          Copy YAML
        </button>
      </div>
      {message && (
        <div className={`mergekit-message ${message.kind === 'error' ? 'field-error' : 'muted small'}`} role="status" data-testid="mergekit-message">
          {message.text}
          {message.missing && message.missing.length > 0 && (
            <ul className="missing-list" data-testid="import-missing">
              {message.missing.map((m) => (
                <li key={m.slot}>
                  Load <code>{m.ref}</code> into {m.slot}
                </li>
              ))}
            </ul>
          )}
        </div>
      )}
      <MergekitImportDialog open={dialogOpen} onClose={() => setDialogOpen(false)} onImported={imported} />
    </>
  );
}
