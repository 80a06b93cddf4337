/**
 * Saved α sweeps in the origin private file system: `sweeps/<id>.json`, one SweepResult each, written
 * through a `.partial` file and a rename so that a crash never leaves half a result, and never over an
 * existing one.
 */
import { ChatvecError } from '../src/core/errors.ts';
import { writeFileAtomic } from '../src/core/merge/output-folder.ts';
import { OpfsOutputFolder } from '../src/core/sources/opfs.ts';
import { sweepResultJson } from '../src/sweep/export.ts';
import type { SweepResult } from '../src/sweep/types.ts';

export const SWEEPS_DIR = 'sweeps';

/** What the list of saved sweeps shows, without reading every response. */
export interface SweepSummary {
  id: string;
  createdAt: string;
  models: SweepResult['models'];
  promptSet: string;
  lang: SweepResult['promptSet']['lang'];
  alphas: number[];
  prompts: number;
  recommended: number | null;
}

export function summarizeSweep(r: SweepResult): SweepSummary {
  return { id: r.id, createdAt: r.createdAt, models: r.models, promptSet: r.promptSet.name, lang: r.promptSet.lang, alphas: r.settings.alphas, prompts: r.promptSet.prompts.length, recommended: r.recommendation.alpha };
}

const ID = /^[A-Za-z0-9_-]{1,100}$/;

export class SweepStore {
  constructor(private readonly root: () => Promise<FileSystemDirectoryHandle>) {}

  private async folder(create: boolean): Promise<OpfsOutputFolder | null> {
    try {
      return new OpfsOutputFolder(SWEEPS_DIR, await (await this.root()).getDirectoryHandle(SWEEPS_DIR, { create }));
    } catch (e) {
      if ((e as { name?: string }).name === 'NotFoundError') return null;
      throw e;
    }
  }

  async save(result: SweepResult): Promise<void> {
    if (!ID.test(result.id)) throw new Error(`internal: bad sweep id ${JSON.stringify(result.id)}`);
    const out = (await this.folder(true))!;
    const name = `${result.id}.json`;
    if ((await out.size(name)) !== null) throw new ChatvecError('a saved sweep with this id exists already', { code: 'sweep-exists', file: `${SWEEPS_DIR}/${name}`, hint: 'Run the sweep again: it gets a new id' });
    await writeFileAtomic(out, name, sweepResultJson(result));
  }

  /** Newest first; files that are not sweeps (or are damaged) are left out of the list, not deleted. */
  async list(): Promise<SweepSummary[]> {
    const out = await this.folder(false);
    if (!out) return [];
    const summaries: SweepSummary[] = [];
    for (const name of await out.list()) {
      if (!name.endsWith('.json')) continue;
      const result = await this.read(out, name).catch(() => null);
      if (result) summaries.push(summarizeSweep(result));
    }
    return summaries.sort((a, b) => b.createdAt.localeCompare(a.createdAt) || b.id.localeCompare(a.id));
  }

  async load(id: string): Promise<SweepResult> {
    const out = ID.test(id) ? await this.folder(false) : null;
    if (!out || (await out.size(`${id}.json`)) === null) throw new ChatvecError('there is no saved sweep with this id', { code: 'sweep-missing', file: `${SWEEPS_DIR}/${id}.json`, hint: 'Refresh the list of saved sweeps' });
    return this.read(out, `${id}.json`);
  }

  async remove(id: string): Promise<void> {
    const out = ID.test(id) ? await this.folder(false) : null;
    if (out && (await out.size(`${id}.json`)) !== null) await out.remove(`${id}.json`);
  }

  private async read(out: OpfsOutputFolder, name: string): Promise<SweepResult> {
    const src = await out.open(name);
    const text = new TextDecoder().decode(await src.read(0, src.size));
    let value: unknown;
    try {
      value = JSON.parse(text);
    } catch {
      throw new ChatvecError('a saved sweep is not valid JSON', { code: 'sweep-damaged', file: `${SWEEPS_DIR}/${name}`, hint: 'Delete it and run the sweep again' });
    }
    const r = value as Partial<SweepResult>;
    if (r?.chatvecSweep !== 1 || typeof r.id !== 'string' || !Array.isArray(r.points) || !Array.isArray(r.responses)) {
      throw new ChatvecError('a saved file is not a sweep result of this version', { code: 'sweep-damaged', file: `${SWEEPS_DIR}/${name}`, expected: '{"chatvecSweep": 1, …}', hint: 'Delete it and run the sweep again' });
    }
    return r as SweepResult;
  }
}
