import type { ChatVectorStats } from '../../core/stats/stats-report.ts';
import { CosineHeatmap } from './CosineHeatmap.tsx';
import { downloadCsv, downloadJson } from './export.ts';
import { LayerChart } from './LayerChart.tsx';
import { sig4 } from './numbers.ts';

const percent = (v: number | null) => (v === null ? '—' : `${(v * 100).toFixed(2)}%`);

/** The charts, the per-layer table and the downloads of one result. */
export function DiagnosticsResults({ stats }: { stats: ChatVectorStats }) {
  const t = stats.total;
  return (
    <div className="diag-results" data-testid="diag-results">
      <dl className="diag-total" data-testid="diag-total">
        <div>
          <dt>‖τ‖</dt>
          <dd>{sig4(t.tauNorm)}</dd>
        </div>
        <div>
          <dt>‖τ‖ / ‖cp‖</dt>
          <dd>{sig4(t.relMagnitude)}</dd>
        </div>
        <div>
          <dt>cos(τ, cp − base)</dt>
          <dd>{sig4(t.cosine)}</dd>
        </div>
        <div>
          <dt>sign agreement</dt>
          <dd>{percent(t.signAgreement)}</dd>
        </div>
      </dl>
      <div className="diag-charts">
        <LayerChart stats={stats} />
        <CosineHeatmap stats={stats} />
      </div>
      <details className="diag-table" data-testid="diag-layer-table">
        <summary>Per-layer values</summary>
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th>layer</th>
                <th>tensors</th>
                <th>‖τ‖</th>
                <th>‖cp − base‖</th>
                <th>‖τ‖ / ‖cp‖</th>
                <th>cos(τ, cp − base)</th>
                <th>sign agreement</th>
              </tr>
            </thead>
            <tbody>
              {stats.layers.map((l) => (
                <tr key={l.layer} data-layer={l.layer}>
                  <td>{l.layer}</td>
                  <td>{l.tensors}</td>
                  <td className="num" data-testid="diag-layer-tau">
                    {sig4(l.tauNorm)}
                  </td>
                  <td className="num">{sig4(l.cpDeltaNorm)}</td>
                  <td className="num" data-testid="diag-layer-rel">
                    {sig4(l.relMagnitude)}
                  </td>
                  <td className="num">{sig4(l.cosine)}</td>
                  <td className="num">{percent(l.signAgreement)}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
      {(t.nonFinite > 0 || stats.notCompared.length > 0) && (
        <div className="diag-notes small" data-testid="diag-not-compared">
          {t.nonFinite > 0 && <p>{t.nonFinite} element(s) with NaN or ±Inf in base, chat or cp are left out of every sum.</p>}
          {stats.notCompared.length > 0 && (
            <>
              <p>Not compared ({stats.notCompared.length}):</p>
              <ul className="tensor-list">
                {stats.notCompared.map((n) => (
                  <li key={n.name}>
                    <span className="mono">{n.name}</span>: {n.reason}
                  </li>
                ))}
              </ul>
            </>
          )}
        </div>
      )}
      <div className="button-row diag-downloads">
        <span className="muted small">Download, as <code>chatvec stats</code> writes them:</span>
        <button type="button" className="small-button" data-testid="diag-csv" onClick={() => downloadCsv(stats)}>
          CSV (one row per tensor)
        </button>
        <button type="button" className="small-button" data-testid="diag-json" onClick={() => downloadJson(stats)}>
          JSON (everything)
        </button>
      </div>
    </div>
  );
}
