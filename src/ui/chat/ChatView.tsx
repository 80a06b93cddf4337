/**
 * Chat with a merged model in this tab: the demo merge with a live α slider, the demo cp, or a library model.
 * All model work happens in the preview worker; this component keeps the conversation and the controls.
 */
import * as Comlink from 'comlink';
import { useCallback, useEffect, useRef, useState } from 'react';
import type { ChatMessage, CompareColumn, PreviewBackend, PreviewModelInfo, PreviewSettings, PreviewSource } from '../../../workers/preview-api.ts';
import { LIBRARY_CHANGED } from '../merge/merge-store.ts';
import { errorMessage, getWorker, useStudio } from '../store.ts';
import { getPreviewWorker, liveMergeOf } from './preview-client.ts';
import './chat.css';

const LIVE = 'live';
const DEMO_CP = 'demo-cp';

const DEFAULTS: PreviewSettings = { greedy: true, temperature: 0.7, topK: 0, topP: 0.9, repetitionPenalty: 1, maxNewTokens: 64 };

interface Turn extends ChatMessage {
  /** Generated token ids of an assistant turn (test hook: data-ids). */
  ids?: number[];
  done?: boolean;
}

interface Stats {
  newTokens: number;
  tokensPerSecond: number;
  promptTokens: number;
  reusedTokens: number;
  stopReason: string;
}

export function ChatView() {
  const recipe = useStudio((s) => s.recipe);
  const [choice, setChoice] = useState(LIVE);
  const [library, setLibrary] = useState<{ id: string; name: string }[]>([]);
  const [backend, setBackend] = useState<PreviewBackend>('wasm');
  const [webgpu, setWebgpu] = useState<{ webgpu: boolean; shaderF16: boolean } | null>(null);
  const [info, setInfo] = useState<PreviewModelInfo | null>(null);
  const [opening, setOpening] = useState(false);
  const [error, setError] = useState<string | null>(null);
  const [alpha, setAlpha] = useState(1);
  const [alphaBusy, setAlphaBusy] = useState(false);
  const [latency, setLatency] = useState<{ remergeMs: number; rebindMs: number } | null>(null);
  const [system, setSystem] = useState('');
  const [draft, setDraft] = useState('Hello! Who are you?');
  const [turns, setTurns] = useState<Turn[]>([]);
  const [generating, setGenerating] = useState(false);
  const [stats, setStats] = useState<Stats | null>(null);
  const [showPrompt, setShowPrompt] = useState(false);
  const [prompt, setPrompt] = useState('');
  const [showSettings, setShowSettings] = useState(false);
  const [settings, setSettings] = useState<PreviewSettings>(DEFAULTS);
  const [compareAlphas, setCompareAlphas] = useState(['0', '0.5', '1.0']);
  const [columns, setColumns] = useState<CompareColumn[] | null>(null);
  const [comparing, setComparing] = useState(false);
  const pendingAlpha = useRef<number | null>(null);

  const refreshLibrary = useCallback(async () => {
    try {
      const entries = await getWorker().library();
      setLibrary(entries.filter((e) => e.status === 'complete').map((e) => ({ id: e.id, name: e.name })));
    } catch {
      setLibrary([]);
    }
  }, []);

  useEffect(() => {
    void refreshLibrary();
    const onChange = () => void refreshLibrary();
    window.addEventListener(LIBRARY_CHANGED, onChange);
    void getPreviewWorker().backends().then(setWebgpu, () => setWebgpu({ webgpu: false, shaderF16: false }));
    return () => window.removeEventListener(LIBRARY_CHANGED, onChange);
  }, [refreshLibrary]);

  const conversation = (list: Turn[]): ChatMessage[] => list.filter((t) => t.done !== false).map(({ role, content }) => ({ role, content }));

  // The rendered prompt follows the conversation, the system prompt and the model.
  useEffect(() => {
    if (!showPrompt || !info) return;
    let live = true;
    const pendingUser = draft.trim() ? [{ role: 'user' as const, content: draft }] : [];
    getPreviewWorker()
      .renderPrompt([...conversation(turns), ...pendingUser], system)
      .then((p) => live && setPrompt(p), (e) => live && setPrompt(`(${errorMessage(e)})`));
    return () => {
      live = false;
    };
  }, [showPrompt, info, turns, system, draft]);

  async function open() {
    const source: PreviewSource = choice === LIVE ? { kind: 'live', alpha, ...liveMergeOf(recipe) } : choice === DEMO_CP ? { kind: 'demo', role: 'cp' } : { kind: 'library', id: choice };
    setOpening(true);
    setError(null);
    setInfo(null);
    setTurns([]);
    setStats(null);
    setLatency(null);
    setColumns(null);
    try {
      setInfo(await getPreviewWorker().open(source, backend));
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setOpening(false);
    }
  }

  /** Re-merge at the slider's α; changes that arrive meanwhile collapse into the latest. */
  async function applyAlpha(value: number) {
    pendingAlpha.current = value;
    if (alphaBusy) return;
    setAlphaBusy(true);
    try {
      while (pendingAlpha.current !== null) {
        const next = pendingAlpha.current;
        pendingAlpha.current = null;
        const change = await getPreviewWorker().setAlpha(next);
        setLatency({ remergeMs: change.remergeMs, rebindMs: change.rebindMs });
        setInfo((i) => (i ? { ...i, alpha: change.alpha, label: change.label } : i));
      }
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setAlphaBusy(false);
    }
  }

  async function send() {
    if (!draft.trim() || generating) return;
    const history: Turn[] = [...turns, { role: 'user', content: draft }];
    const reply: Turn = { role: 'assistant', content: '', ids: [], done: false };
    setTurns([...history, reply]);
    setDraft('');
    setGenerating(true);
    setError(null);
    const update = (patch: Partial<Turn>) => setTurns([...history, Object.assign(reply, patch)]);
    try {
      const result = await getPreviewWorker().generate(
        conversation(history),
        system,
        settings,
        // Token callbacks travel on their own port: one may land after the result, and is then dropped.
        Comlink.proxy((t: { id: number; text: string }) => reply.done === false && update({ content: reply.content + t.text, ids: [...reply.ids!, t.id] })),
      );
      update({ content: result.text, ids: result.ids, done: true });
      setStats({ newTokens: result.stats.newTokens, tokensPerSecond: result.stats.decodeTokensPerSecond, promptTokens: result.stats.promptTokens, reusedTokens: result.stats.reusedTokens, stopReason: result.stats.stopReason });
    } catch (e) {
      setError(errorMessage(e));
      update({ done: true });
    } finally {
      setGenerating(false);
    }
  }

  async function compare() {
    const alphas = compareAlphas.map((a) => a.trim()).filter((a) => a !== '').map(Number);
    if (alphas.some((a) => !Number.isFinite(a))) {
      setError('Each α to compare must be a number, such as 0.5');
      return;
    }
    // The message being written is the question; without one, the conversation up to its last user turn.
    const history = conversation(turns);
    const messages: ChatMessage[] = draft.trim() ? [...history, { role: 'user', content: draft }] : history.slice(0, lastUserIndex(history) + 1);
    if (!messages.length) {
      setError('Write a message first: the comparison answers it on every model');
      return;
    }
    setComparing(true);
    setError(null);
    setColumns(null);
    try {
      let finished = false;
      const result = await getPreviewWorker().compare(messages, system, alphas, settings.maxNewTokens, Comlink.proxy((cols: CompareColumn[]) => finished || setColumns(cols)));
      finished = true;
      setColumns(result);
    } catch (e) {
      setError(errorMessage(e));
    } finally {
      setComparing(false);
    }
  }

  const live = info?.alpha !== undefined;
  const num = (key: keyof PreviewSettings) => (e: React.ChangeEvent<HTMLInputElement>) => setSettings({ ...settings, [key]: Number(e.target.value) });

  return (
    <section className="card chat" aria-label="Chat" data-testid="chat">
      <h2>Chat with the merge</h2>
      <p className="muted small">Runs in this tab with onnxruntime-web; nothing leaves the browser.</p>
      <div className="chat-controls">
        <label className="field">
          Model
          <select data-testid="chat-model" value={choice} onChange={(e) => setChoice(e.target.value)}>
            <option value={LIVE}>{recipe ? 'Recipe merge (live α)' : 'Demo merge (live α)'}</option>
            <option value={DEMO_CP}>Demo cp</option>
            {library.map((m) => (
              <option key={m.id} value={m.id}>
                Library: {m.name}
              </option>
            ))}
          </select>
        </label>
        <label className="field">
          Backend
          <select data-testid="chat-backend" data-webgpu={webgpu === null ? 'pending' : webgpu.webgpu ? (webgpu.shaderF16 ? 'f16' : 'f32') : 'none'} value={backend} onChange={(e) => setBackend(e.target.value as PreviewBackend)}>
            <option value="wasm">wasm (CPU)</option>
            <option value="webgpu" disabled={!webgpu?.webgpu}>
              WebGPU{webgpu && !webgpu.webgpu ? ' (no adapter)' : webgpu && !webgpu.shaderF16 ? ' (f32 weights)' : ''}
            </option>
          </select>
        </label>
        <button type="button" className="primary-button" data-testid="chat-open" disabled={opening || generating || comparing} onClick={() => void open()}>
          {opening ? 'Opening…' : 'Open'}
        </button>
      </div>

      {error && (
        <div className="alert" role="alert" data-testid="chat-error">
          {error}
        </div>
      )}

      {info && (
        <p className="chat-info" data-testid="chat-info" data-backend={info.backend}>
          {info.label} · {info.backend} ({info.weightDtype} weights) · {info.parameters.toLocaleString()} parameters, {info.layers} layers · opened in {info.loadMs.toFixed(0)} ms
        </p>
      )}

      {live && recipe && (recipe.vectors.length > 1 || typeof recipe.vectors[0].alpha !== 'number') && (
        <p className="muted small" data-testid="chat-live-note">
          The slider sets one α for the first chat vector; the recipe's other vectors and per-layer α apply only to real merges.
        </p>
      )}
      {live && (
        <div className="chat-alpha">
          <label htmlFor="chat-alpha">α</label>
          <input
            id="chat-alpha"
            data-testid="chat-alpha"
            type="range"
            min={-0.5}
            max={1.5}
            step={0.05}
            value={alpha}
            disabled={generating || comparing}
            onChange={(e) => {
              const v = Number(e.target.value);
              setAlpha(v);
              void applyAlpha(v);
            }}
          />
          <span className="mono" data-testid="chat-alpha-value">
            {alpha.toFixed(2)}
          </span>
          <span className="muted small" data-testid="chat-alpha-latency" data-busy={alphaBusy}>
            {alphaBusy ? 're-merging…' : latency ? `re-merge ${latency.remergeMs.toFixed(0)} ms + rebind ${latency.rebindMs.toFixed(0)} ms` : 'move to re-merge in memory'}
          </span>
        </div>
      )}

      {info && (
        <>
          <label className="field">
            System prompt
            <textarea data-testid="chat-system" rows={2} value={system} onChange={(e) => setSystem(e.target.value)} placeholder="(none)" />
          </label>

          <div className="chat-messages" data-testid="chat-messages">
            {turns.map((t, i) => (
              <div key={i} className={`chat-message ${t.role}`} data-testid={`chat-${t.role}`} data-ids={t.ids?.join(',')} data-done={t.done === undefined ? undefined : String(t.done)}>
                <span className="chat-role">{t.role}</span>
                {t.content || (t.role === 'assistant' && !t.done ? '…' : '')}
              </div>
            ))}
          </div>

          <div className="chat-compose">
            <textarea
              data-testid="chat-input"
              rows={2}
              value={draft}
              onChange={(e) => setDraft(e.target.value)}
              onKeyDown={(e) => {
                if (e.key === 'Enter' && !e.shiftKey) {
                  e.preventDefault();
                  void send();
                }
              }}
            />
            {generating ? (
              <button type="button" className="small-button" data-testid="chat-stop" onClick={() => void getPreviewWorker().stop()}>
                Stop
              </button>
            ) : (
              <button type="button" className="primary-button" data-testid="chat-send" disabled={!draft.trim() || comparing || alphaBusy} onClick={() => void send()}>
                Send
              </button>
            )}
          </div>
          {stats && (
            <p className="chat-stats" data-testid="chat-rate">
              {stats.newTokens} tokens at {stats.tokensPerSecond.toFixed(1)} tokens/s · prompt {stats.promptTokens} tokens ({stats.reusedTokens} from the cache) · {stats.stopReason}
            </p>
          )}

          <div className="button-row">
            <button type="button" className="link-button" data-testid="chat-show-prompt" aria-pressed={showPrompt} onClick={() => setShowPrompt(!showPrompt)}>
              {showPrompt ? 'Hide' : 'View'} the rendered prompt
            </button>
            <button type="button" className="link-button" data-testid="chat-show-settings" aria-pressed={showSettings} onClick={() => setShowSettings(!showSettings)}>
              {showSettings ? 'Hide' : 'Show'} settings
            </button>
            <button type="button" className="link-button" data-testid="chat-clear" disabled={generating} onClick={() => { setTurns([]); setStats(null); }}>
              Clear conversation
            </button>
          </div>
          {showPrompt && <pre className="chat-prompt" data-testid="chat-prompt">{prompt}</pre>}
          {showSettings && (
            <div className="chat-settings" data-testid="chat-settings">
              <label className="field">
                <span>
                  <input type="checkbox" data-testid="chat-greedy" checked={settings.greedy} onChange={(e) => setSettings({ ...settings, greedy: e.target.checked })} /> Greedy
                </span>
              </label>
              <label className="field">
                Temperature
                <input type="number" min={0} step={0.05} disabled={settings.greedy} value={settings.temperature} onChange={num('temperature')} />
              </label>
              <label className="field">
                Top-k (0 = off)
                <input type="number" min={0} step={1} disabled={settings.greedy} value={settings.topK} onChange={num('topK')} />
              </label>
              <label className="field">
                Top-p
                <input type="number" min={0.01} max={1} step={0.01} disabled={settings.greedy} value={settings.topP} onChange={num('topP')} />
              </label>
              <label className="field" title="1 = off; the Chat Vector paper used 1.15 for its Mistral models">
                Repetition penalty
                <input type="number" min={0.5} step={0.05} data-testid="chat-repetition" value={settings.repetitionPenalty} onChange={num('repetitionPenalty')} />
              </label>
              <label className="field">
                Max new tokens
                <input type="number" min={1} max={4096} step={1} data-testid="chat-max-tokens" value={settings.maxNewTokens} onChange={num('maxNewTokens')} />
              </label>
            </div>
          )}

          {live && (
            <div className="chat-compare" data-testid="compare">
              <h3>Compare α</h3>
              <p className="muted small">The conversation (with the message being written), greedy, on each α and on the CP model, one after another.</p>
              <div className="chat-controls">
                {compareAlphas.map((a, i) => (
                  <label key={i} className="field">
                    α {i + 1}
                    <input type="text" size={5} data-testid={`compare-alpha-${i}`} value={a} onChange={(e) => setCompareAlphas(compareAlphas.map((x, j) => (j === i ? e.target.value : x)))} />
                  </label>
                ))}
                <button type="button" className="primary-button" data-testid="compare-run" disabled={comparing || generating || alphaBusy} onClick={() => void compare()}>
                  {comparing ? 'Comparing…' : 'Compare'}
                </button>
              </div>
              {columns && (
                <div className="compare-grid" data-testid="compare-grid">
                  {columns.map((c) => (
                    <div key={c.label} className="compare-column" data-testid="compare-column" data-done={String(c.done)} data-ids={c.ids.join(',')}>
                      <h4>{c.label}</h4>
                      <div className="compare-text" data-testid="compare-text">
                        {c.text || (c.done ? '(empty)' : '…')}
                      </div>
                      <div className="compare-ids">{c.ids.length} tokens</div>
                    </div>
                  ))}
                </div>
              )}
            </div>
          )}
        </>
      )}
    </section>
  );
}

function lastUserIndex(messages: ChatMessage[]): number {
  for (let i = messages.length - 1; i >= 0; i--) if (messages[i].role === 'user') return i;
  return -1;
}
