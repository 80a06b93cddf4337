import { useState } from 'react';
import type { PlanIssue, Severity } from '../core/plan.ts';
import type { PlanReport } from '../../workers/contract.ts';
import { formatBytes, formatCount, formatNumber } from './format.ts';

const SEVERITIES: { severity: Severity; title: string }[] = [
  { severity: 'error', title: 'Errors' },
  { severity: 'warning', title: 'Warnings' },
  { severity: 'info', title: 'Info' },
];

/** Tensor lists longer than this start collapsed. */
const SHORT_LIST = 5;

/** What a merge of the recipe would do, tensor by tensor, and what stands in its way. `recipe` says which recipe it is for. */
export function CompatibilityReport({ report, recipe, planning }: { report: PlanReport; recipe: string; planning: boolean }) {
  const errors = report.issues.filter((i) => i.severity === 'error').length;
  return (
    <section className="card report" data-testid="report" data-state={planning ? 'planning' : 'ready'} aria-busy={planning}>
      <div className="report-head">
        <h2>Compatibility report</h2>
        <span className={`status ${report.ok ? 'status-ok' : 'status-blocked'}`} data-testid="status">
          {report.ok ? 'Ready to merge' : errors === 1 ? '1 error blocks the merge' : `${errors} errors block the merge`}
        </span>
      </div>
      <p className="muted small" data-testid="report-recipe">
        {recipe} · {formatCount(report.counts.parameters)} parameters in {report.numLayers} layers · {formatBytes(report.totalOutputBytes)} of output weights
      </p>

      <div className="counts">
        <Count testid="count-merged" value={report.counts.merged} label="merged" />
        <Count testid="count-merged-rows" value={report.counts.mergedRows} label="merged on shared rows" />
        <Count testid="count-copied" value={report.counts.copied} label="copied from cp" />
      </div>

      {report.issues.length === 0 ? (
        <p className="no-issues" data-testid="no-issues">
          No issues: every tensor lines up across base, chat and cp.
        </p>
      ) : (
        SEVERITIES.map(({ severity, title }) => {
          const issues = report.issues.filter((i) => i.severity === severity);
          if (issues.length === 0) return null;
          return (
            <div key={severity} className="issue-group" data-testid={`issues-${severity}`}>
              <h3>
                {title} <span className="muted">({issues.length})</span>
              </h3>
              {issues.map((issue, i) => (
                <Issue key={`${issue.code}-${i}`} issue={issue} />
              ))}
            </div>
          );
        })
      )}

      {report.notes.length > 0 && (
        <div className="notes">
          <h3>Output files</h3>
          <ul data-testid="notes">
            {report.notes.map((n) => (
              <li key={n}>{n}</li>
            ))}
          </ul>
        </div>
      )}

      <details className="tensor-table">
        <summary>All tensors ({report.tensors.length})</summary>
        <div className="table-scroll">
          <table>
            <thead>
              <tr>
                <th>Tensor</th>
                <th>Shape</th>
                <th>Dtype</th>
                <th>Action</th>
                <th>α</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {report.tensors.map((t) => (
                <tr key={t.name} data-tensor={t.name}>
                  <td className="mono">{t.name}</td>
                  <td className="mono">[{t.shape.join(', ')}]</td>
                  <td>{t.dtype}</td>
                  <td data-testid="tensor-action">{t.action}</td>
                  <td data-testid="tensor-alpha">{t.alphas.length ? t.alphas.map((a) => formatNumber(Number(a.toPrecision(6)))).join(', ') : '—'}</td>
                  <td>{t.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      </details>
    </section>
  );
}

function Count({ testid, value, label }: { testid: string; value: number; label: string }) {
  return (
    <div className="count">
      <span className="count-value" data-testid={testid}>
        {formatCount(value)}
      </span>
      <span className="count-label">{label}</span>
    </div>
  );
}

function Issue({ issue }: { issue: PlanIssue }) {
  const [expanded, setExpanded] = useState(false);
  const long = issue.tensors.length > SHORT_LIST;
  const shown = long && !expanded ? issue.tensors.slice(0, SHORT_LIST) : issue.tensors;
  return (
    <article className={`issue issue-${issue.severity}`} data-testid={`issue-${issue.code}`}>
      <p className="issue-message">
        {issue.message} <code className="issue-code">{issue.code}</code>
      </p>
      {issue.tensors.length > 0 && (
        <ul className="tensor-list" data-testid={`issue-${issue.code}-tensors`}>
          {shown.map((t, i) => (
            <li key={i} className="mono">
              {t}
            </li>
          ))}
        </ul>
      )}
      {long && (
        <button type="button" className="link-button" aria-expanded={expanded} onClick={() => setExpanded(!expanded)}>
          {expanded ? 'Show fewer' : `Show all ${issue.tensors.length}`}
        </button>
      )}
      {issue.hint && <p className="hint">→ {issue.hint}</p>}
    </article>
  );
}
