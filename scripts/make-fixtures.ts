/**
 * Write a synthetic base / chat / cp checkpoint triplet.
 *
 *   npx tsx scripts/make-fixtures.ts OUTDIR [--arch llama|qwen2] [--dtype bf16|f16|f32] [--layers N] [--hidden N]
 *        [--heads N] [--kv-heads N] [--intermediate N] [--vocab N] [--cp-extra N] [--tied] [--shards N] [--seed N] [--specials]
 *   npx tsx scripts/make-fixtures.ts OUTDIR --demo   # the synthetic demo shape (DEMO_OPTIONS: cp has 8 extra vocabulary rows)
 *
 * public/demo holds the trained demo (training/train_demo.py), committed to git: this script never writes there.
 */
import { realpathSync } from 'node:fs';
import { isAbsolute, relative, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { DTYPE_NAMES } from '../src/core/dtype.ts';
import { DEMO_OPTIONS, writeTriplet, type TripletOptions } from './fixtures.ts';

const USAGE = `usage: make-fixtures OUTDIR [--arch llama|qwen2] [--dtype bf16|f16|f32] [--layers N] [--hidden N] [--heads N]
                     [--kv-heads N] [--intermediate N] [--vocab N] [--cp-extra N] [--tied] [--shards N] [--seed N] [--specials]
       make-fixtures OUTDIR --demo`;

/** The trained demo (training/train_demo.py), which random weights must not replace. */
const TRAINED_DEMO_DIR = fileURLToPath(new URL('../public/demo', import.meta.url));

function fail(msg: string): never {
  process.stderr.write(`make-fixtures: ${msg}\n${USAGE}\n`);
  process.exit(2);
}

export function parseArgs(argv: string[]): { out: string; opts: TripletOptions } {
  const opts: TripletOptions = { arch: 'llama', dtype: 'BF16' };
  let out: string | null = null;
  let demo = false;
  const ints: Record<string, keyof TripletOptions> = {
    '--layers': 'layers', '--hidden': 'hiddenSize', '--heads': 'heads', '--kv-heads': 'kvHeads', '--intermediate': 'intermediate',
    '--vocab': 'vocab', '--cp-extra': 'cpExtraTokens', '--shards': 'shards', '--seed': 'seed',
  };
  for (let i = 0; i < argv.length; i++) {
    const a = argv[i];
    const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined];
    const value = () => {
      const v = inline ?? argv[++i];
      if (v === undefined) fail(`${flag} needs a value`);
      return v;
    };
    if (flag === '--demo') demo = true;
    else if (flag === '--tied') opts.tiedEmbeddings = true;
    else if (flag === '--specials') opts.specials = true;
    else if (flag === '--arch') {
      const v = value();
      if (v !== 'llama' && v !== 'qwen2') fail(`--arch must be llama or qwen2, got "${v}"`);
      opts.arch = v;
    } else if (flag === '--dtype') {
      const v = value();
      const d = DTYPE_NAMES[v.toLowerCase()];
      if (!d) fail(`--dtype must be bf16, f16 or f32, got "${v}"`);
      opts.dtype = d;
    } else if (flag in ints) {
      const v = value();
      if (!/^\d+$/.test(v)) fail(`${flag} must be a non-negative integer, got "${v}"`);
      (opts as unknown as Record<string, number>)[ints[flag]] = Number(v);
    } else if (flag === '-h' || flag === '--help') {
      process.stdout.write(USAGE + '\n');
      process.exit(0);
    } else if (flag.startsWith('-')) fail(`unknown option ${flag}`);
    else if (out === null) out = flag;
    else fail(`unexpected argument "${flag}"`);
  }
  if (out === null) fail('missing OUTDIR');
  const insideDemo = relative(TRAINED_DEMO_DIR, resolve(out));
  if (!insideDemo.startsWith('..') && !isAbsolute(insideDemo)) {
    fail(`${out} is the trained demo (public/demo, committed to git); write synthetic fixtures elsewhere`);
  }
  if (demo) {
    if (argv.length > 2) fail('--demo takes no other options');
    return { out, opts: { ...DEMO_OPTIONS } };
  }
  return { out, opts };
}

async function main(): Promise<void> {
  const { out, opts } = parseArgs(process.argv.slice(2));
  try {
    const paths = await writeTriplet(out, opts);
    process.stdout.write(`${paths.base}\n${paths.chat}\n${paths.cp}\n`);
  } catch (e) {
    fail((e as Error).message);
  }
}

const invokedDirectly = (() => {
  try {
    return !!process.argv[1] && realpathSync(process.argv[1]) === realpathSync(fileURLToPath(import.meta.url));
  } catch {
    return false;
  }
})();
if (invokedDirectly) await main();
