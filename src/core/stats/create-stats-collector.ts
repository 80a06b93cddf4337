import { accumulateChunk, newStatsState, stateSums, type StatsState } from './stats-accumulator.ts';
import { buildStatsReport, type ChatVectorStats } from './stats-report.ts';
import type { StatsTargets } from './stats-targets.ts';

export interface StatsCollector {
  /**
   * Elements [start, start + count) of tensor `name`, decoded to f32 (base and chat of the measured
   * vector, and cp). Chunks of a tensor must come in element order; elements past the compared ones
   * (cp's extra vocabulary rows) and tensors that are not compared are ignored.
   */
  add(name: string, start: number, base: Float32Array, chat: Float32Array, cp: Float32Array, count: number): void;
  /** The report; tensors not covered in full are listed as not compared. */
  result(): ChatVectorStats;
}

/**
 * Statistics gathered inside another pass over the tensors (the merge), from the chunks it decodes
 * anyway. Gives the same numbers, to the bit, as `computeChatVectorStats` for the tensors it sees whole.
 */
export function createStatsCollector(targets: StatsTargets): StatsCollector {
  const elementsOf = new Map(targets.compared.map((t) => [t.name, t.elements]));
  const running = new Map<string, StatsState>();
  return {
    add(name, start, base, chat, cp, count) {
      const elements = elementsOf.get(name);
      if (elements === undefined || start >= elements) return;
      let state = running.get(name);
      if (!state) running.set(name, (state = newStatsState()));
      if (start !== state.elements) throw new Error(`internal: stats for ${name} got elements from ${start}, expected ${state.elements}`);
      accumulateChunk(state, base, chat, cp, Math.min(count, elements - start));
    },
    result() {
      const stateOf = (name: string) => running.get(name) ?? newStatsState();
      const whole = targets.compared.filter((t) => stateOf(t.name).elements === t.elements);
      const seen = new Set(whole.map((t) => t.name));
      const missed = targets.compared.filter((t) => !seen.has(t.name)).map((t) => ({ name: t.name, reason: 'not read in full by this pass' }));
      return buildStatsReport({ ...targets, compared: whole, notCompared: [...targets.notCompared, ...missed] }, whole.map((t) => stateSums(stateOf(t.name))));
    },
  };
}
