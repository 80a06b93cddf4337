/// <reference types="vite/client" />
/// <reference lib="webworker" />
import * as Comlink from 'comlink';
import { Studio, type ModelSummary, type PlanOverrides, type StudioReport } from './studio-api.ts';
import type { LoadedSource, PlanReport, SourceSpec } from './contract.ts';
import type { Recipe } from '../src/core/recipe.ts';

const studio = new Studio(new URL(`${import.meta.env.BASE_URL}demo/`, self.location.href).href);

/** What the page can ask of the studio worker. */
const api = {
  loadDemo: (): Promise<ModelSummary[]> => studio.loadDemo(),
  plan: (overrides: PlanOverrides): Promise<StudioReport> => studio.plan(overrides),
  loadSource: (spec: SourceSpec): Promise<LoadedSource> => studio.loadSource(spec),
  planRecipe: (recipe: Recipe): Promise<PlanReport> => studio.planRecipe(recipe),
};
export type StudioWorkerApi = typeof api;

Comlink.expose(api);
