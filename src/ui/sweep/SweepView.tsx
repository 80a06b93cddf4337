/**
 * The α sweep (issue #6): answer a prompt set at every α of a grid on the recipe's merge held in memory,
 * score the answers (target-language rate, format adherence, length, distinct-n, perplexity), recommend an
 * α, and keep the results in OPFS to reopen and compare. The preview worker runs it (src/sweep/run-sweep.ts).
 */
import * as Comlink from 'comlink';
import { useCallback, useEffect, useMemo, useState } from 'react';
import { parseAlphaList } from '../../sweep/alphas.ts';
import { sweepPointsCsv, sweepResponsesCsv, sweepResultJson } from '../../sweep/export.ts';
import { letterScript, TARGET_LANGUAGE_RULE, TARGET_SCRIPTS } from '../../sweep/metrics.ts';
import { BUILTIN_PROMPT_SETS, parsePromptJsonl, SWEEP_LANGS } from '../../sweep/prompt-sets.ts';
import { DEFAULT_THRESHOLD, formatPercent } from '../../sweep/recommend.ts';
import type { PromptSet, Script, SweepLang, SweepProgress, SweepResult } from '../../sweep/types.ts';
import type { SweepSummary } from '../../../workers/sweep-store.ts';
import { getPreviewWorker, liveMergeOf } from '../chat/preview-client.ts';
import { downloadBlob } from '../diagnostics/export.ts';
import { errorMessage, useStudio } from '../store.ts';
import { SweepChart, type ChartSeries } from './SweepChart.tsx';
import './sweep.css';

const CUSTOM = 'custom';
const LANG_NAMES: Record<SweepLang, string> = { ko: 'Korean', 'zh-Hant': 'Traditional Chinese', 'zh-Hans': 'Simplified Chinese', ja: 'Japanese', en: 'English' };
const COLORS = { rate: '#2f5fd0', format: '#1f8a4c', tokens: '#7a4fd0', d1: '#d0542f', d2: '#b08a1e', ppl: '#333a4a' };

/** Stop was pressed (comlink keeps the error's name); any other error is shown as one. */
function isCancel(e: unknown): boolean {
  return (e as { name?: string }).name === 'CancelledError';
}

export function SweepView() {
  const recipe = useStudio((s) => s.recipe);
  const [alphaText, setAlphaText] = useState('0:1.5:0.25');
  const [setChoice, setSetChoice] = useState<string>('zh-Hans');
  const [jsonl, setJsonl] = useState('');
  const [jsonlName, setJsonlName] = useState('pasted prompts');
  const [customLang, setCustomLang] = useState<SweepLang>('zh-Hans');
  const [maxNewTokens, setMaxNewTokens] = useState(32);
  const [repetitionPenalty, setRepetitionPenalty] = useState(1);
  const [system, setSystem] = useState('');
  const [thresholdPct, setThresholdPct] = useState(DEFAULT_THRESHOLD * 100);
  const [running, setRunning] = useState(false);
  const [progress, setProgress] = useState<SweepProgress | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [cancelled, setCancelled] = useState(false);
  const [result, setResult] = useState<SweepResult | null>(null);
  const [compare, setCompare] = useState<SweepResult | null>(null);
  const [saved, setSaved] = useState<SweepSummary[]>([]);

  const refresh = useCallback(async () => {
    try {
      setSaved(await getPreviewWorker().savedSweeps());
    } catch (e) {
      setError(errorMessage(e));
    }
  }, []);
  useEffect(() => {
    void refresh();
  }, [refresh]);

  /** The settings as entered, or the first thing wrong with them. */
  function request(): { promptSet: PromptSet; alphas: number[] } {
    const alphas = parseAlphaList(alphaText, 'α grid');
    if (setChoice !== CUSTOM) return { promptSet: BUILTIN_PROMPT_SETS[setChoice as SweepLang], alphas };
    return { promptSet: parsePromptJsonl({ text: jsonl, file: jsonlName, lang: customLang }), alphas };
  }

  async function run() {
    setError(null);
    setCancelled(false);
    let req;
    try {
      req = request();
    } catch (e) {
      setError(errorMessage(e));
      return;
    }
    setRunning(true);
    setProgress(null);
    try {
      const r = await getPreviewWorker().sweep(
        { live: liveMergeOf(recipe), promptSet: req.promptSet, settings: { alphas: req.alphas, maxNewTokens, repetitionPenalty, system, threshold: thresholdPct / 100 } },
        Comlink.proxy((p: SweepProgress) => setProgress(p)),
      );
      setResult(r);
      setCompare(null);
      await refresh();
    } catch (e) {
      if (isCancel(e)) setCancelled(true);
      else setError(errorMessage(e));
    } finally {
      setRunning(false);
    }
  }

  async function open(id: string, asComparison: boolean) {
    setError(null);
    try {
      const r = await getPreviewWorker().loadSweep(id);
      if (asComparison) setCompare(r);
      else {
        setResult(r);
        if (compare?.id === id) setCompare(null);
      }
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  async function remove(id: string) {
    try {
      await getPreviewWorker().deleteSweep(id);
      if (result?.id === id) setResult(null);
      if (compare?.id === id) setCompare(null);
      await refresh();
    } catch (e) {
      setError(errorMessage(e));
    }
  }

  const models = liveMergeOf(recipe).models;
  const total = progress ? progress.alphas * progress.prompts : 0;
  const done = progress ? progress.alphaIndex * progress.prompts + progress.promptIndex : 0;
  const eta = progress && done > 0 ? (progress.elapsedMs / done) * (total - done) : null;

  return (
    <section className="card sweep" aria-label="α sweep" data-testid="sweep">
      <h2>α sweep</h2>
      <p className="muted small">
        Answers a prompt set at every α on the merge held in memory ({models ? `${models.cp} + α·(${models.chat} − ${models.base})` : 'the demo triplet'}), scores the answers and
        recommends the highest α whose answers stay in the target language. Nothing is written but the result.
      </p>
      <div className="sweep-settings">
        <label className="field">
          α grid (list or from:to:step)
          <input type="text" data-testid="sweep-alphas" value={alphaText} onChange={(e) => setAlphaText(e.target.value)} size={16} />
        </label>
        <label className="field">
          Prompt set
          <select data-testid="sweep-set" value={setChoice} onChange={(e) => setSetChoice(e.target.value)}>
            {SWEEP_LANGS.map((l) => (
              <option key={l} value={l}>
                {BUILTIN_PROMPT_SETS[l].name} · {BUILTIN_PROMPT_SETS[l].prompts.length} prompts
              </option>
            ))}
            <option value={CUSTOM}>Your own (JSONL)</option>
          </select>
        </label>
        <label className="field">
          Max new tokens
          <input type="number" min={1} max={4096} data-testid="sweep-max-tokens" value={maxNewTokens} onChange={(e) => setMaxNewTokens(Number(e.target.value))} />
        </label>
        <label className="field">
          Repetition penalty
          <input type="number" min={0.5} step={0.05} data-testid="sweep-repetition" value={repetitionPenalty} onChange={(e) => setRepetitionPenalty(Number(e.target.value))} />
        </label>
        <label className="field">
          Threshold (%)
          <input type="number" min={0} max={100} step={1} data-testid="sweep-threshold" value={thresholdPct} onChange={(e) => setThresholdPct(Number(e.target.value))} />
        </label>
      </div>
      {setChoice === CUSTOM && (
        <div className="sweep-custom">
          <label className="field">
            Target language
            <select data-testid="sweep-lang" value={customLang} onChange={(e) => setCustomLang(e.target.value as SweepLang)}>
              {SWEEP_LANGS.map((l) => (
                <option key={l} value={l}>
                  {LANG_NAMES[l]} ({l})
                </option>
              ))}
            </select>
          </label>
          <label className="field wide">
            Prompts, one JSON object per line: {'{"text": "…"}'} or {'{"id": "…", "text": "…"}'}
            <textarea data-testid="sweep-jsonl" rows={4} value={jsonl} onChange={(e) => { setJsonl(e.target.value); setJsonlName('pasted prompts'); }} />
          </label>
          <label className="small-button file-button">
            Upload .jsonl
            <input
              type="file"
              accept=".jsonl,.json,.txt,application/jsonl"
              data-testid="sweep-jsonl-file"
              onChange={(e) => {
                const f = e.target.files?.[0];
                if (f) void f.text().then((t) => { setJsonl(t); setJsonlName(f.name); });
                e.target.value = '';
              }}
            />
          </label>
        </div>
      )}
      <label className="field">
        System prompt
        <textarea data-testid="sweep-system" rows={1} value={system} onChange={(e) => setSystem(e.target.value)} placeholder="(none)" />
      </label>
      <div className="button-row">
        <button type="button" className="primary-button" data-testid="sweep-run" disabled={running} onClick={() => void run()}>
          {running ? 'Sweeping…' : 'Run sweep'}
        </button>
        {running && (
          <button type="button" className="small-button" data-testid="sweep-stop" onClick={() => void getPreviewWorker().stopSweep()}>
            Stop
          </button>
        )}
      </div>
      {running && progress && (
        <div className="sweep-progress" data-testid="sweep-progress" data-done={done} data-total={total}>
          <progress max={total} value={done} />
          <span>
            α {progress.alphaIndex + 1}/{progress.alphas} · {progress.phase === 'merge' ? 're-merging' : progress.phase === 'perplexity' ? 'perplexity' : `prompt ${Math.min(progress.promptIndex + 1, progress.prompts)}/${progress.prompts}`} · {(progress.elapsedMs / 1000).toFixed(1)} s
            {eta !== null ? ` · about ${Math.ceil(eta / 1000)} s left` : ''}
          </span>
        </div>
      )}
      {cancelled && (
        <p className="muted" data-testid="sweep-cancelled">
          Sweep stopped; nothing was saved.
        </p>
      )}
      {error && (
        <div className="alert" role="alert" data-testid="sweep-error">
          {error}
        </div>
      )}
      {/* Above the results: the response table can be long, and Compare changes the charts at its top. */}
      <SavedSweeps saved={saved} current={result?.id ?? null} comparing={compare?.id ?? null} onOpen={open} onDelete={remove} />
      {result && <SweepResults result={result} compare={compare} />}
    </section>
  );
}

function SweepResults({ result, compare }: { result: SweepResult; compare: SweepResult | null }) {
  const { points, recommendation } = result;
  const lang = result.promptSet.lang;
  const xs = useMemo(() => [...new Set([...points.map((p) => p.alpha), ...(compare?.points.map((p) => p.alpha) ?? [])])].sort((a, b) => a - b), [points, compare]);
  const charts = useMemo(() => {
    const at = (r: SweepResult, pick: (p: SweepResult['points'][0]) => number | null) => xs.map((a) => {
      const p = r.points.find((q) => q.alpha === a);
      return p ? pick(p) : null;
    });
    const both = (label: string, color: string, pick: (p: SweepResult['points'][0]) => number | null): ChartSeries[] => [
      { label, color, values: at(result, pick) },
      ...(compare ? [{ label: `${label} (compared)`, color, values: at(compare, pick), dashed: true }] : []),
    ];
    return {
      rates: [...both('target language', COLORS.rate, (p) => p.targetLanguageRate), ...both('format (eos)', COLORS.format, (p) => p.formatAdherence)],
      tokens: both('mean response tokens', COLORS.tokens, (p) => p.meanResponseTokens),
      distinct: [...both('distinct-1', COLORS.d1, (p) => p.meanDistinct1), ...both('distinct-2', COLORS.d2, (p) => p.meanDistinct2)],
      ppl: both('perplexity', COLORS.ppl, (p) => p.perplexity),
    };
  }, [result, compare, xs]);
  const base = `chatvec-sweep-${result.id}`;

  return (
    <div className="sweep-results" data-testid="sweep-result" data-id={result.id}>
      <h3>
        {result.promptSet.name} · {result.promptSet.prompts.length} prompts · α {result.settings.alphas.join(', ')}
      </h3>
      <p className="muted small">
        {result.models.cp} + α·({result.models.chat} − {result.models.base}) · greedy, at most {result.settings.maxNewTokens} new tokens · {shortDate(result.createdAt)} · {(result.elapsedMs / 1000).toFixed(1)} s
      </p>
      <div className="sweep-recommendation" data-testid="sweep-recommendation" data-alpha={recommendation.alpha ?? ''}>
        <strong>{recommendation.alpha === null ? 'No α recommended' : `Recommended α = ${recommendation.alpha}`}</strong> (target-language rate ≥ {formatPercent(recommendation.threshold)})
        <p data-testid="sweep-reasoning">{recommendation.reasoning}</p>
      </div>
      <p className="small sweep-rule" data-testid="sweep-rule">
        <strong>Rule.</strong> {TARGET_LANGUAGE_RULE}
      </p>
      {compare && (
        <p className="small muted" data-testid="sweep-comparing" data-id={compare.id}>
          Dashed lines: the saved sweep of {shortDate(compare.createdAt)} ({compare.promptSet.name}, α {compare.settings.alphas.join(', ')}, {compare.models.cp}), for comparison.
        </p>
      )}
      <div className="sweep-charts">
        <SweepChart id="rates" title="Target-language rate and format adherence" xs={xs} series={charts.rates} unit="%" range={[0, 1]} />
        <SweepChart id="tokens" title="Mean response length (tokens)" xs={xs} series={charts.tokens} />
        <SweepChart id="distinct" title="Repetition: distinct-1 and distinct-2" xs={xs} series={charts.distinct} range={[0, 1]} />
        <SweepChart id="perplexity" title={`Perplexity on held-out ${LANG_NAMES[lang]} text`} xs={xs} series={charts.ppl} />
      </div>
      <div className="table-scroll">
        <table className="sweep-points" data-testid="sweep-points">
          <thead>
            <tr>
              <th>α</th>
              <th>target language</th>
              <th>format (eos)</th>
              <th>mean tokens</th>
              <th>distinct-1</th>
              <th>distinct-2</th>
              <th>perplexity</th>
            </tr>
          </thead>
          <tbody>
            {points.map((p) => (
              <tr key={p.alpha} data-testid="sweep-point" data-alpha={p.alpha} className={p.alpha === recommendation.alpha ? 'recommended' : undefined}>
                <td>{p.alpha}</td>
                <td>{formatPercent(p.targetLanguageRate)}</td>
                <td>{formatPercent(p.formatAdherence)}</td>
                <td>{p.meanResponseTokens.toFixed(1)}</td>
                <td>{p.meanDistinct1.toFixed(3)}</td>
                <td>{p.meanDistinct2.toFixed(3)}</td>
                <td>{p.perplexity === null ? '—' : p.perplexity.toFixed(2)}</td>
              </tr>
            ))}
          </tbody>
        </table>
      </div>
      <div className="button-row">
        <button type="button" className="small-button" data-testid="sweep-export-csv" onClick={() => downloadBlob(new Blob([sweepResponsesCsv(result)], { type: 'text/csv' }), `${base}-responses.csv`)}>
          Responses CSV
        </button>
        <button type="button" className="small-button" data-testid="sweep-export-points-csv" onClick={() => downloadBlob(new Blob([sweepPointsCsv(result)], { type: 'text/csv' }), `${base}-alphas.csv`)}>
          Per-α CSV
        </button>
        <button type="button" className="small-button" data-testid="sweep-export-json" onClick={() => downloadBlob(new Blob([sweepResultJson(result)], { type: 'application/json' }), `${base}.json`)}>
          JSON
        </button>
      </div>
      <ResponseTable result={result} />
    </div>
  );
}

/** Answers by prompt (rows) and α (columns), letters coloured by script against the target language. */
function ResponseTable({ result }: { result: SweepResult }) {
  const lang = result.promptSet.lang;
  const target = new Set<Script>(TARGET_SCRIPTS[lang].scripts);
  const alphas = result.settings.alphas;
  const byKey = new Map(result.responses.map((r) => [`${r.promptId}\u0000${r.alpha}`, r]));
  return (
    <details className="sweep-responses" open>
      <summary>Responses ({result.responses.length})</summary>
      <p className="small sweep-legend" data-testid="sweep-legend">
        <span className="script-target">target script ({TARGET_SCRIPTS[lang].scripts.join(' + ')})</span> <span className="script-other">other script</span> digits and punctuation uncoloured (letters inside Markdown code are coloured here but not counted) ·{' '}
        <span className="badge eos">eos</span> ended with eos · <span className="badge limit">limit</span> hit the token limit
      </p>
      <div className="table-scroll">
        <table className="sweep-table" data-testid="sweep-table">
          <thead>
            <tr>
              <th>prompt</th>
              {alphas.map((a) => (
                <th key={a}>α = {a}</th>
              ))}
            </tr>
          </thead>
          <tbody>
            {result.promptSet.prompts.map((p) => (
              <tr key={p.id}>
                <th scope="row" title={p.id}>
                  {p.text}
                </th>
                {alphas.map((a) => {
                  const r = byKey.get(`${p.id}\u0000${a}`);
                  if (!r) return <td key={a}>—</td>;
                  return (
                    <td key={a} data-testid="sweep-cell" data-prompt={p.id} data-alpha={a} data-eos={String(r.endedWithEos)} data-target={String(r.inTargetLanguage)} className={r.inTargetLanguage ? 'in-target' : 'off-target'}>
                      <Highlighted text={r.text} target={target} />
                      <span className={`badge ${r.endedWithEos ? 'eos' : 'limit'}`}>{r.endedWithEos ? 'eos' : 'limit'}</span>
                    </td>
                  );
                })}
              </tr>
            ))}
          </tbody>
        </table>
      </div>
    </details>
  );
}

/** Runs of letters in the target script, in another script, and everything else. */
function Highlighted({ text, target }: { text: string; target: Set<Script> }) {
  const runs: { cls: string; text: string }[] = [];
  for (const ch of text) {
    const s = letterScript(ch);
    const cls = s === null ? '' : target.has(s) ? 'script-target' : 'script-other';
    const last = runs.at(-1);
    if (last && last.cls === cls) last.text += ch;
    else runs.push({ cls, text: ch });
  }
  return (
    <span className="sweep-text">
      {runs.map((r, k) => (r.cls ? <span key={k} className={r.cls}>{r.text}</span> : r.text))}
    </span>
  );
}

function SavedSweeps({ saved, current, comparing, onOpen, onDelete }: { saved: SweepSummary[]; current: string | null; comparing: string | null; onOpen: (id: string, asComparison: boolean) => void; onDelete: (id: string) => void }) {
  const [confirming, setConfirming] = useState<string | null>(null);
  return (
    <details className="sweep-saved" data-testid="sweep-saved" open={saved.length > 0}>
      <summary>Saved sweeps ({saved.length})</summary>
      {saved.length === 0 && <p className="muted small">None yet: every finished sweep is kept here, in this browser's storage.</p>}
      <ul>
        {saved.map((s) => (
          <li key={s.id} data-testid="sweep-saved-entry" data-id={s.id} className={s.id === current ? 'current' : undefined}>
            <span>
              {shortDate(s.createdAt)} · {s.promptSet} · α {s.alphas.join(', ')} · {s.models.cp} · recommended {s.recommended === null ? 'none' : `α = ${s.recommended}`}
            </span>
            <button type="button" className="link-button" data-testid="sweep-saved-open" disabled={s.id === current} onClick={() => onOpen(s.id, false)}>
              Open
            </button>
            <button type="button" className="link-button" data-testid="sweep-saved-compare" disabled={!current || s.id === current || s.id === comparing} onClick={() => onOpen(s.id, true)}>
              Compare
            </button>
            {confirming === s.id ? (
              <>
                <span className="small">Delete this sweep for good?</span>
                <button type="button" className="small-button danger" data-testid="sweep-saved-delete-confirm" onClick={() => { setConfirming(null); onDelete(s.id); }}>
                  Delete
                </button>
                <button type="button" className="small-button quiet" onClick={() => setConfirming(null)}>
                  Keep
                </button>
              </>
            ) : (
              <button type="button" className="link-button" data-testid="sweep-saved-delete" onClick={() => setConfirming(s.id)}>
                Delete
              </button>
            )}
          </li>
        ))}
      </ul>
    </details>
  );
}

function shortDate(iso: string): string {
  return iso.replace('T', ' ').slice(0, 19);
}
