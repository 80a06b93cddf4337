/**
 * Recipe files: our JSON format (`{"chatvec_recipe": 1, ...}`) and mergekit's YAML config.
 *
 * A chat-vector merge θ = θ_cp + Σ α_i·(θ_chat_i − θ_base) is mergekit's `task_arithmetic` with
 * base_model = base, cp at weight 1.0 and each chat model at weight α_i: mergekit computes
 * base + 1·(cp − base) + Σ α_i·(chat_i − base). What mergekit cannot express (embedding policy,
 * skip globs, copied token rows, shard size) travels in a `# chatvec: {...}` comment line.
 */
import { parseDocument } from 'yaml';
import { DTYPE_NAMES, TORCH_DTYPE } from './dtype.ts';
import { ChatvecError } from './errors.ts';
import { DEFAULT_SHARD_SIZE, parseSize, type AlphaSetting, type ChatVectorSpec, type EmbeddingPolicy, type Gradient, type OutputDtype, type Recipe } from './recipe.ts';

export const RECIPE_FORMAT_VERSION = 1;

type Obj = Record<string, unknown>;
type Cond = { filter?: string; value: Gradient };

interface Ctx {
  file?: string;
  code: string;
}

const RECIPE_KEYS = ['chatvec_recipe', 'cp', 'vectors', 'embeddings', 'skip', 'dtype', 'shard_size', 'copy_token_rows'];
const VECTOR_KEYS = ['base', 'chat', 'alpha'];
const COND_KEYS = ['filter', 'value'];
const EMBEDDING_POLICIES: EmbeddingPolicy[] = ['overlap', 'skip'];
const OUTPUT_DTYPES: OutputDtype[] = ['auto', 'bf16', 'f16', 'f32'];
const MODEL_REF = 'a model folder path or Hub id (owner/name[@revision])';
const ALPHA_SHAPES = 'a number, a non-empty list of numbers (a gradient), or a non-empty list of {filter, value}';

// ---------------------------------------------------------------------------------------------------
// Shared validation helpers

function fail(ctx: Ctx, path: string | undefined, summary: string, expected?: string, found?: string, hint?: string, code = ctx.code): never {
  throw new ChatvecError(summary, { code, file: ctx.file, tensor: path || undefined, expected, found, hint });
}

function isObj(v: unknown): v is Obj {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function has(o: Obj, k: string): boolean {
  return Object.prototype.hasOwnProperty.call(o, k);
}

function trunc(s: string, n = 80): string {
  return s.length > n ? `${s.slice(0, n - 1)}…` : s;
}

/** How a found value is shown in an error message. */
export function describeValue(v: unknown): string {
  if (v === undefined) return 'nothing';
  if (v === null) return 'null';
  if (typeof v === 'string') return `a string ${trunc(JSON.stringify(v))}`;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return v.length === 0 ? 'an empty list' : `a list ${trunc(safeJson(v))}`;
  if (typeof v === 'object') return `an object ${trunc(safeJson(v))}`;
  return typeof v;
}

function safeJson(v: unknown): string {
  try {
    return JSON.stringify(v) ?? String(v);
  } catch {
    return String(v);
  }
}

function join(parent: string, key: string): string {
  return parent ? `${parent}.${key}` : key;
}

function editDistance(a: string, b: string): number {
  const d = Array.from({ length: a.length + 1 }, (_, i) => [i, ...new Array<number>(b.length).fill(0)]);
  for (let j = 1; j <= b.length; j++) d[0][j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) d[i][j] = Math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + (a[i - 1] === b[j - 1] ? 0 : 1));
  }
  return d[a.length][b.length];
}

function checkKeys(o: Obj, allowed: string[], path: string, ctx: Ctx): void {
  for (const k of Object.keys(o)) {
    if (allowed.includes(k)) continue;
    const close = allowed.filter((a) => editDistance(a.toLowerCase(), k.toLowerCase()) <= 2);
    fail(ctx, join(path, k), `unknown key "${k}"`, `one of ${allowed.join(', ')}`, describeValue(o[k]), close.length ? `Did you mean "${close[0]}"?` : undefined);
  }
}

function readObject(v: unknown, path: string, ctx: Ctx, expected: string): Obj {
  if (!isObj(v)) fail(ctx, path, 'not an object', expected, describeValue(v));
  return v;
}

function readName(v: unknown, path: string, ctx: Ctx, expected: string): string {
  if (v === undefined) fail(ctx, path, 'missing required field', expected, 'nothing');
  if (typeof v !== 'string' || v.trim() === '') fail(ctx, path, typeof v === 'string' ? 'empty name' : 'not a string', expected, describeValue(v));
  return v;
}

function readStringList(v: unknown, path: string, ctx: Ctx, what: string): string[] {
  if (!Array.isArray(v)) fail(ctx, path, 'not a list', `a list of ${what}`, describeValue(v));
  return v.map((e, i) => {
    if (typeof e !== 'string' || e === '') fail(ctx, `${path}[${i}]`, typeof e === 'string' ? 'empty string' : 'not a string', `a non-empty string (${what})`, describeValue(e));
    return e;
  });
}

function readEnum<T extends string>(v: unknown, path: string, ctx: Ctx, allowed: readonly T[]): T {
  if (typeof v !== 'string' || !(allowed as readonly string[]).includes(v)) fail(ctx, path, 'not an allowed value', `one of ${allowed.map((a) => `"${a}"`).join(', ')}`, describeValue(v));
  return v as T;
}

function readNumber(v: unknown, path: string, ctx: Ctx): number {
  if (typeof v !== 'number') fail(ctx, path, 'not a number', 'a finite number', describeValue(v));
  if (!Number.isFinite(v)) fail(ctx, path, 'not a finite number', 'a finite number', String(v));
  return v;
}

function readGradient(v: unknown, path: string, ctx: Ctx): Gradient {
  if (typeof v === 'number') return readNumber(v, path, ctx);
  if (Array.isArray(v)) {
    if (v.length === 0) fail(ctx, path, 'empty gradient', 'a number or a non-empty list of numbers', 'an empty list');
    return v.map((e, i) => readNumber(e, `${path}[${i}]`, ctx));
  }
  fail(ctx, path, 'not a number or a gradient', 'a number or a non-empty list of numbers', describeValue(v));
}

/** α (or mergekit weight): number | number[] | [{filter?, value}], strictly checked. A null filter (mergekit's "match all") is dropped. */
function readAlpha(v: unknown, path: string, ctx: Ctx): AlphaSetting {
  if (typeof v === 'number') return readNumber(v, path, ctx);
  if (Array.isArray(v)) {
    if (v.length === 0) fail(ctx, path, 'empty α list', ALPHA_SHAPES, 'an empty list');
    const objs = v.filter(isObj).length;
    if (objs === 0) return readGradient(v, path, ctx);
    if (objs !== v.length) fail(ctx, path, 'list mixes numbers and {filter, value} entries', ALPHA_SHAPES, describeValue(v));
    return v.map((e, i) => {
      const p = `${path}[${i}]`;
      const o = e as Obj;
      checkKeys(o, COND_KEYS, p, ctx);
      if (!has(o, 'value')) fail(ctx, `${p}.value`, 'missing required field', 'a number or a non-empty list of numbers', 'nothing');
      const value = readGradient(o.value, `${p}.value`, ctx);
      if (o.filter === undefined || o.filter === null) return { value };
      if (typeof o.filter !== 'string') fail(ctx, `${p}.filter`, 'not a string', 'a substring of tensor names (or omit it to match every tensor)', describeValue(o.filter));
      return { filter: o.filter, value };
    });
  }
  if (isObj(v)) fail(ctx, path, 'a single {filter, value} entry is not a setting', ALPHA_SHAPES, describeValue(v), 'Put it in a list: [{filter, value}]');
  fail(ctx, path, 'not a valid α setting', ALPHA_SHAPES, describeValue(v));
}

function readShardSize(v: unknown, path: string, ctx: Ctx): number {
  if (typeof v === 'number' && !(Number.isInteger(v) && v > 0)) fail(ctx, path, 'not a valid size', 'a whole number of bytes above 0, or e.g. "500MB", "2GB"', String(v));
  if (typeof v !== 'number' && typeof v !== 'string') fail(ctx, path, 'not a valid size', 'a number of bytes or a string such as "500MB", "2GB"', describeValue(v));
  try {
    return parseSize(v, path);
  } catch (e) {
    if (e instanceof ChatvecError) fail(ctx, path, 'not a valid size', e.details.expected, e.details.found);
    throw e;
  }
}

/** Bytes → the shortest exact decimal-unit spelling (`2GB`, `500MB`), else the plain number. */
export function formatSize(n: number): string | number {
  for (const [unit, mult] of [['TB', 1e12], ['GB', 1e9], ['MB', 1e6], ['KB', 1e3]] as const) {
    if (n >= mult && n % mult === 0) return `${n / mult}${unit}`;
  }
  return n;
}

function isCatchAll(c: Cond): boolean {
  return c.filter === undefined || c.filter === null || c.filter === '*' || c.filter === '';
}

function isCondList(a: AlphaSetting): a is Cond[] {
  return Array.isArray(a) && a.length > 0 && typeof a[0] === 'object';
}

// ---------------------------------------------------------------------------------------------------
// JSON recipe

/** Validate a parsed JSON recipe object and build the Recipe (missing optional fields take defaultRecipe's values). */
function recipeFromObject(v: unknown, ctx: Ctx): Recipe {
  const o = readObject(v, '', ctx, `a JSON object such as {"chatvec_recipe": ${RECIPE_FORMAT_VERSION}, "cp": ..., "vectors": [...]}`);
  checkKeys(o, RECIPE_KEYS, '', ctx);
  if (!has(o, 'chatvec_recipe')) fail(ctx, 'chatvec_recipe', 'missing required field', `"chatvec_recipe": ${RECIPE_FORMAT_VERSION}`, 'nothing');
  if (o.chatvec_recipe !== RECIPE_FORMAT_VERSION) fail(ctx, 'chatvec_recipe', 'unsupported recipe version', String(RECIPE_FORMAT_VERSION), describeValue(o.chatvec_recipe), `This version of Chat Vector Studio reads recipe version ${RECIPE_FORMAT_VERSION}`);
  const cp = readName(o.cp, 'cp', ctx, MODEL_REF);
  if (!has(o, 'vectors')) fail(ctx, 'vectors', 'missing required field', 'a non-empty list of {base, chat, alpha}', 'nothing');
  if (!Array.isArray(o.vectors)) fail(ctx, 'vectors', 'not a list', 'a non-empty list of {base, chat, alpha}', describeValue(o.vectors));
  if (o.vectors.length === 0) fail(ctx, 'vectors', 'no chat vector', 'at least one {base, chat, alpha}', 'an empty list');
  const vectors: ChatVectorSpec[] = o.vectors.map((e, i) => {
    const p = `vectors[${i}]`;
    const vo = readObject(e, p, ctx, '{base, chat, alpha}');
    checkKeys(vo, VECTOR_KEYS, p, ctx);
    return {
      base: readName(vo.base, `${p}.base`, ctx, MODEL_REF),
      chat: readName(vo.chat, `${p}.chat`, ctx, MODEL_REF),
      alpha: has(vo, 'alpha') ? readAlpha(vo.alpha, `${p}.alpha`, ctx) : 1,
    };
  });
  return {
    cp,
    vectors,
    embeddings: has(o, 'embeddings') ? readEnum(o.embeddings, 'embeddings', ctx, EMBEDDING_POLICIES) : 'overlap',
    skip: has(o, 'skip') ? readStringList(o.skip, 'skip', ctx, 'tensor-name globs') : [],
    dtype: has(o, 'dtype') ? readEnum(o.dtype, 'dtype', ctx, OUTPUT_DTYPES) : 'auto',
    shardSize: has(o, 'shard_size') ? readShardSize(o.shard_size, 'shard_size', ctx) : DEFAULT_SHARD_SIZE,
    copyTokenRows: has(o, 'copy_token_rows') ? readStringList(o.copy_token_rows, 'copy_token_rows', ctx, 'special tokens') : [],
  };
}

/** Parse our JSON recipe format, validating every field; errors name the file and the field path. */
export function parseRecipeJson(text: string, file?: string): Recipe {
  const ctx: Ctx = { file, code: 'bad-recipe' };
  let v: unknown;
  try {
    v = JSON.parse(text.replace(/^\uFEFF/, ''));
  } catch (e) {
    fail(ctx, undefined, 'not valid JSON', 'a JSON recipe object', (e as Error).message);
  }
  return recipeFromObject(v, ctx);
}

function recipeToObject(recipe: Recipe, shardSize: string | number): Obj {
  return {
    chatvec_recipe: RECIPE_FORMAT_VERSION,
    cp: recipe.cp,
    vectors: recipe.vectors.map((v) => ({ base: v.base, chat: v.chat, alpha: alphaToPlain(v.alpha) })),
    embeddings: recipe.embeddings,
    skip: recipe.skip,
    dtype: recipe.dtype,
    shard_size: shardSize,
    copy_token_rows: recipe.copyTokenRows,
  };
}

function alphaToPlain(a: AlphaSetting): unknown {
  if (!Array.isArray(a)) return a;
  return (a as (number | Cond)[]).map((e) => (typeof e === 'object' && e !== null ? (e.filter === undefined ? { value: e.value } : { filter: e.filter, value: e.value }) : e));
}

/** Throws the same ChatvecError a file with these values would get (NaN α, empty names, ...). */
export function validateRecipe(recipe: Recipe): void {
  if (!isObj(recipe)) fail({ code: 'bad-recipe' }, undefined, 'not a recipe', 'a Recipe object', describeValue(recipe));
  recipeFromObject(recipeToObject(recipe, recipe.shardSize), { code: 'bad-recipe' });
}

function prettyJson(v: unknown, indent: string): string {
  if (Array.isArray(v)) {
    if (v.length === 0) return '[]';
    if (v.every((e) => typeof e === 'number')) return `[${v.map((e) => JSON.stringify(e)).join(', ')}]`;
    const inner = indent + '  ';
    return `[\n${v.map((e) => inner + prettyJson(e, inner)).join(',\n')}\n${indent}]`;
  }
  if (isObj(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (keys.length === 0) return '{}';
    const inner = indent + '  ';
    return `{\n${keys.map((k) => `${inner}${JSON.stringify(k)}: ${prettyJson(v[k], inner)}`).join(',\n')}\n${indent}}`;
  }
  return JSON.stringify(v);
}

/** Our JSON recipe: every field written, fixed key order, number lists on one line. */
export function recipeToJson(recipe: Recipe): string {
  validateRecipe(recipe);
  return prettyJson(recipeToObject(recipe, formatSize(recipe.shardSize)), '') + '\n';
}

// ---------------------------------------------------------------------------------------------------
// mergekit YAML: export

export interface MergekitExportOptions {
  /** cp's float dtype (`BF16`, `bf16`, `bfloat16`, ...): written as `dtype` when the recipe's dtype is `auto`. */
  cpDtype?: string;
}

const CHATVEC_COMMENT = /^#\s*chatvec:\s*(\{.*\})\s*$/;
const COMMENT_KEYS = ['embeddings', 'skip', 'copy_token_rows', 'shard_size', 'alpha_fallback_added'];
const YAML_KEYWORDS = new Set(['y', 'n', 'yes', 'no', 'on', 'off', 'true', 'false', 'null']);

/** A YAML scalar for a string: plain when it cannot be read as anything else (in YAML 1.1 or 1.2), else double-quoted. */
function yamlString(s: string): string {
  const safe = /^[A-Za-z0-9_.~/][A-Za-z0-9_.~/@-]*$/.test(s) && (s.includes('/') || (/^[A-Za-z_]/.test(s) && !YAML_KEYWORDS.has(s.toLowerCase())));
  return safe ? s : JSON.stringify(s);
}

/** A YAML float both PyYAML (YAML 1.1: needs a `.` and a signed exponent) and YAML 1.2 read as a float. */
function yamlNumber(n: number): string {
  if (Object.is(n, -0)) return '-0.0';
  const s = String(n);
  const m = /^(-?[\d.]+)(?:e([+-]?)(\d+))?$/.exec(s);
  if (!m) return s;
  const mant = m[1].includes('.') ? m[1] : `${m[1]}.0`;
  return m[3] === undefined ? mant : `${mant}e${m[2] || '+'}${m[3]}`;
}

function yamlGradient(g: Gradient): string {
  return typeof g === 'number' ? yamlNumber(g) : `[${g.map(yamlNumber).join(', ')}]`;
}

function checkMergekitRef(ref: string, path: string): void {
  const ctx: Ctx = { code: 'mergekit-unsupported' };
  if (ref.includes('+')) fail(ctx, path, `mergekit reads "+" in a model reference as model+LoRA adapter`, 'a folder path or Hub id without "+"', JSON.stringify(ref), 'Rename or link the folder to a path without "+"');
  if (ref.split('@').length > 2) fail(ctx, path, 'mergekit allows one "@" (owner/name@revision) in a model reference', 'at most one "@"', JSON.stringify(ref));
}

function torchDtype(d: string): string {
  const f = DTYPE_NAMES[d.toLowerCase()];
  if (!f) throw new ChatvecError('cp dtype has no mergekit spelling', { code: 'bad-dtype', tensor: 'dtype', expected: 'BF16, F16 or F32', found: JSON.stringify(d) });
  return TORCH_DTYPE[f];
}

/**
 * mergekit `task_arithmetic` config computing the same merge: base_model = the (single) base, cp at weight 1.0,
 * each chat model at weight α. Settings mergekit cannot express go in a `# chatvec: {...}` comment.
 */
export function recipeToMergekitYaml(recipe: Recipe, opts: MergekitExportOptions = {}): string {
  validateRecipe(recipe);
  const unsupported: Ctx = { code: 'mergekit-unsupported' };
  const base = recipe.vectors[0].base;
  const other = recipe.vectors.findIndex((v) => v.base !== base);
  if (other >= 0) {
    const bases = [...new Set(recipe.vectors.map((v) => v.base))];
    fail(unsupported, `vectors[${other}].base`, `the chat vectors use ${bases.length} different base models`, 'one base model shared by every vector', bases.map((b) => JSON.stringify(b)).join(', '), "mergekit's task_arithmetic takes one base_model: split the recipe into one merge per base (merge the vectors of the first base into cp, then use that output as cp for the next base)");
  }
  checkMergekitRef(recipe.cp, 'cp');
  checkMergekitRef(base, 'vectors[0].base');
  const seen = new Map<string, string>([[recipe.cp, 'cp']]);
  recipe.vectors.forEach((v, i) => {
    const p = `vectors[${i}].chat`;
    checkMergekitRef(v.chat, p);
    const prev = seen.get(v.chat);
    if (prev !== undefined) fail(unsupported, p, `${JSON.stringify(v.chat)} is also ${prev}: mergekit keys models by name, so the two entries would collapse into one`, 'each chat model once, and different from cp', JSON.stringify(v.chat), 'Merge in two steps, or combine the vectors of the same chat model into one α');
    seen.set(v.chat, p);
  });

  const dtype = recipe.dtype !== 'auto' ? TORCH_DTYPE[DTYPE_NAMES[recipe.dtype]] : opts.cpDtype !== undefined ? torchDtype(opts.cpDtype) : undefined;

  const extra: Obj = {};
  if (recipe.embeddings !== 'overlap') extra.embeddings = recipe.embeddings;
  if (recipe.skip.length) extra.skip = recipe.skip;
  if (recipe.copyTokenRows.length) extra.copy_token_rows = recipe.copyTokenRows;
  if (recipe.shardSize !== DEFAULT_SHARD_SIZE) extra.shard_size = formatSize(recipe.shardSize);
  // mergekit needs a weight for every tensor; chatvec leaves a vector out where no filter matches. A trailing
  // `value: 0` entry does the same in mergekit; the comment marks it as added so import removes it again.
  const fallback = recipe.vectors.flatMap((v, i) => (isCondList(v.alpha) && !v.alpha.some(isCatchAll) ? [i] : []));
  if (fallback.length) extra.alpha_fallback_added = fallback;

  const lines = [
    '# Chat vector merge exported by Chat Vector Studio.',
    '# chatvec computes cp + alpha * (chat - base); mergekit task_arithmetic computes',
    '# base + 1.0 * (cp - base) + alpha * (chat - base): the same sum in a different order,',
    '# so the results can differ in the last bit.',
  ];
  if (dtype === undefined) lines.push("# dtype omitted: chatvec's \"auto\" writes cp's dtype, mergekit writes base_model's; set dtype if they differ.");
  if (Object.keys(extra).length) {
    lines.push('# Settings mergekit cannot express (mergekit does not apply them; Chat Vector Studio restores them on import):');
    lines.push(`# chatvec: ${JSON.stringify(extra)}`);
  }
  lines.push('merge_method: task_arithmetic', `base_model: ${yamlString(base)}`, 'models:');
  lines.push(`  - model: ${yamlString(recipe.cp)}`, '    parameters:', `      weight: ${yamlNumber(1)}`);
  for (const v of recipe.vectors) {
    lines.push(`  - model: ${yamlString(v.chat)}`, '    parameters:');
    if (!isCondList(v.alpha)) {
      lines.push(`      weight: ${yamlGradient(v.alpha as Gradient)}`);
      continue;
    }
    lines.push('      weight:');
    const conds = v.alpha.some(isCatchAll) ? v.alpha : [...v.alpha, { value: 0 }];
    for (const c of conds) {
      if (c.filter === undefined || c.filter === null) lines.push(`        - value: ${yamlGradient(c.value)}`);
      else lines.push(`        - filter: ${yamlString(c.filter)}`, `          value: ${yamlGradient(c.value)}`);
    }
  }
  lines.push('parameters:', '  normalize: false');
  if (dtype !== undefined) lines.push(`dtype: ${dtype}`);
  lines.push(`tokenizer_source: ${yamlString(recipe.cp)}`);
  return lines.join('\n') + '\n';
}

// ---------------------------------------------------------------------------------------------------
// mergekit YAML: import

const MK_TOP_KEYS = ['merge_method', 'base_model', 'models', 'parameters', 'dtype', 'out_dtype', 'tokenizer_source'];
const MK_UNSUPPORTED_KEYS: Record<string, string> = {
  slices: 'layer slices (frankenmerges) are not a chat-vector merge',
  modules: 'per-module merges are not a chat-vector merge',
  tokenizer: "chatvec keeps cp's tokenizer; a tokenizer block (merged vocabularies, added tokens) cannot be expressed",
  chat_template: "chatvec keeps cp's tokenizer files; chat_template cannot be expressed",
};
const MK_TOP_PARAMS = ['normalize', 'lambda', 'int8_mask', 'rescale', 'weight', 'density'];
const MK_MODEL_KEYS = ['model', 'parameters'];
const MK_MODEL_PARAMS = ['weight', 'density'];
const MK_DTYPES: Record<string, OutputDtype> = { bfloat16: 'bf16', float16: 'f16', float32: 'f32' };

function readModelRef(v: unknown, path: string, ctx: Ctx): string {
  if (isObj(v)) fail(ctx, path, 'model reference in object form is not supported', 'a string: a folder path or Hub id, optionally owner/name@revision', describeValue(v), 'Write it as "path" or "owner/name@revision"', 'mergekit-unsupported');
  const ref = readName(v, path, ctx, 'a folder path or Hub id, optionally owner/name@revision');
  if (ref.includes('+')) fail(ctx, path, 'LoRA references (model+adapter) are not supported', 'a full checkpoint: a folder path or Hub id', JSON.stringify(ref), 'Merge the adapter into its model first and reference the merged folder', 'mergekit-unsupported');
  if (ref.split('@').length > 2) fail(ctx, path, 'more than one "@" in a model reference', 'owner/name or owner/name@revision', JSON.stringify(ref));
  return ref;
}

function readDtype(v: unknown, path: string, ctx: Ctx): OutputDtype | undefined {
  if (v === undefined || v === null) return undefined;
  const name = typeof v === 'string' ? v.replace(/^torch\./, '') : undefined;
  if (name === undefined || !has(MK_DTYPES, name)) fail(ctx, path, 'not a dtype chatvec can write', 'bfloat16, float16 or float32', describeValue(v));
  return MK_DTYPES[name];
}

function readSwitch(v: unknown, path: string, ctx: Ctx): boolean {
  if (v === undefined || v === null) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number' && Number.isFinite(v)) return v !== 0;
  fail(ctx, path, 'not a boolean', 'true or false', describeValue(v));
}

/** mergekit's lookup: a per-model setting wins; where its filter list matches nothing, the top-level setting applies. */
function effectiveWeight(own: AlphaSetting | undefined, top: AlphaSetting | undefined): AlphaSetting | undefined {
  if (own === undefined) return top;
  if (top === undefined || !isCondList(own) || own.some(isCatchAll)) return own;
  return [...own, ...(isCondList(top) ? top : [{ value: top as Gradient }])];
}

interface MkModel {
  ref: string;
  path: string;
  own?: AlphaSetting;
  weight?: AlphaSetting;
}

/** Settings restored from a `# chatvec: {...}` comment line. */
function readChatvecComment(text: string, ctx: Ctx): Obj {
  const found = text.split(/\r?\n/).map((l) => CHATVEC_COMMENT.exec(l)).filter((m): m is RegExpExecArray => m !== null);
  if (found.length === 0) return {};
  const path = '# chatvec';
  if (found.length > 1) fail(ctx, path, 'more than one "# chatvec:" comment line', 'one line', `${found.length} lines`);
  let v: unknown;
  try {
    v = JSON.parse(found[0][1]);
  } catch (e) {
    fail(ctx, path, 'the "# chatvec:" comment is not valid JSON', 'a one-line JSON object', (e as Error).message);
  }
  const o = readObject(v, path, ctx, 'a one-line JSON object');
  checkKeys(o, COMMENT_KEYS, path, ctx);
  const out: Obj = {};
  if (has(o, 'embeddings')) out.embeddings = readEnum(o.embeddings, `${path}.embeddings`, ctx, EMBEDDING_POLICIES);
  if (has(o, 'skip')) out.skip = readStringList(o.skip, `${path}.skip`, ctx, 'tensor-name globs');
  if (has(o, 'copy_token_rows')) out.copyTokenRows = readStringList(o.copy_token_rows, `${path}.copy_token_rows`, ctx, 'special tokens');
  if (has(o, 'shard_size')) out.shardSize = readShardSize(o.shard_size, `${path}.shard_size`, ctx);
  if (has(o, 'alpha_fallback_added')) {
    const p = `${path}.alpha_fallback_added`;
    if (!Array.isArray(o.alpha_fallback_added)) fail(ctx, p, 'not a list', 'a list of chat-model indices', describeValue(o.alpha_fallback_added));
    out.fallback = o.alpha_fallback_added.map((e, i) => {
      if (!Number.isInteger(e) || (e as number) < 0) fail(ctx, `${p}[${i}]`, 'not an index', 'a whole number ≥ 0', describeValue(e));
      return e as number;
    });
  }
  return out;
}

/**
 * Import a mergekit config that expresses a chat-vector merge: task_arithmetic, base_model = base, one model at
 * weight 1.0 (cp), the others chat models with their weight as α. The base listed under `models` is ignored.
 */
export function parseMergekitYaml(text: string, file?: string): Recipe {
  const ctx: Ctx = { file, code: 'bad-mergekit-config' };
  const unsupported: Ctx = { file, code: 'mergekit-unsupported' };
  const doc = parseDocument(text.replace(/^\uFEFF/, ''));
  if (doc.errors.length) fail(ctx, undefined, 'not valid YAML', 'a mergekit YAML config', doc.errors[0].message.split('\n')[0]);
  const cfg = readObject(doc.toJS(), '', ctx, 'a mergekit config: a YAML mapping with merge_method, base_model and models');

  if (!has(cfg, 'merge_method')) fail(ctx, 'merge_method', 'missing required field', 'merge_method: task_arithmetic', 'nothing');
  if (cfg.merge_method !== 'task_arithmetic') {
    const m = typeof cfg.merge_method === 'string' ? `merge_method "${cfg.merge_method}"` : 'this merge_method';
    fail(unsupported, 'merge_method', `${m} is not a chat-vector merge`, 'task_arithmetic', describeValue(cfg.merge_method), "Only task_arithmetic is a chat-vector merge: it adds each model's difference from base_model times its weight; other methods sparsify, rescale or interpolate the differences");
  }
  for (const k of Object.keys(cfg)) if (has(MK_UNSUPPORTED_KEYS, k)) fail(unsupported, k, `"${k}" is not supported`, 'merge_method, base_model, models, parameters, dtype, out_dtype, tokenizer_source', describeValue(cfg[k]), `${MK_UNSUPPORTED_KEYS[k]}; remove it`);
  checkKeys(cfg, MK_TOP_KEYS, '', ctx);

  if (cfg.base_model === undefined || cfg.base_model === null) fail(ctx, 'base_model', 'missing required field', 'the base model the chat vectors are taken against', 'nothing', 'task_arithmetic subtracts base_model from every model');
  const base = readModelRef(cfg.base_model, 'base_model', ctx);

  // top-level parameters
  let topWeight: AlphaSetting | undefined;
  if (cfg.parameters !== undefined && cfg.parameters !== null) {
    const params = readObject(cfg.parameters, 'parameters', ctx, `a mapping of ${MK_TOP_PARAMS.join(', ')}`);
    checkKeys(params, MK_TOP_PARAMS, 'parameters', ctx);
    if (readSwitch(params.normalize, 'parameters.normalize', ctx)) fail(unsupported, 'parameters.normalize', 'normalize: true is not a chat-vector merge', 'false', 'true', "normalize divides the summed differences by the sum of the weights (1 + α), which also scales cp's own difference from base; set normalize: false (task_arithmetic's default)");
    if (params.lambda !== undefined && params.lambda !== null) {
      const lambda = readNumber(params.lambda, 'parameters.lambda', ctx);
      if (lambda !== 1) fail(unsupported, 'parameters.lambda', 'lambda other than 1 is not a chat-vector merge', '1', String(lambda), "lambda scales the summed differences, cp's own difference from base included; scale each chat model's weight instead");
    }
    readSwitch(params.int8_mask, 'parameters.int8_mask', ctx);
    readSwitch(params.rescale, 'parameters.rescale', ctx);
    if (params.weight !== undefined && params.weight !== null) topWeight = readAlpha(params.weight, 'parameters.weight', ctx);
  }

  // models
  if (!has(cfg, 'models') || cfg.models === null) fail(ctx, 'models', 'missing required field', 'a list of {model, parameters: {weight}}', 'nothing');
  if (!Array.isArray(cfg.models) || cfg.models.length === 0) fail(ctx, 'models', Array.isArray(cfg.models) ? 'no models' : 'not a list', 'a non-empty list of {model, parameters: {weight}}', describeValue(cfg.models));
  const listed = new Set<string>();
  const models: MkModel[] = cfg.models.map((e, i) => {
    const p = `models[${i}]`;
    const mo = readObject(e, p, ctx, '{model, parameters: {weight}}');
    checkKeys(mo, MK_MODEL_KEYS, p, ctx);
    const ref = readModelRef(mo.model, `${p}.model`, ctx);
    if (listed.has(ref)) fail(ctx, `${p}.model`, `${JSON.stringify(ref)} is listed twice`, 'each model once', JSON.stringify(ref), 'mergekit keys models by name, so the entries collapse into one');
    listed.add(ref);
    let own: AlphaSetting | undefined;
    if (mo.parameters !== undefined && mo.parameters !== null) {
      const params = readObject(mo.parameters, `${p}.parameters`, ctx, '{weight}');
      checkKeys(params, MK_MODEL_PARAMS, `${p}.parameters`, ctx);
      if (params.weight !== undefined && params.weight !== null) own = readAlpha(params.weight, `${p}.parameters.weight`, ctx);
    }
    return { ref, path: p, own, weight: effectiveWeight(own, topWeight) };
  });

  const nonBase = models.filter((m) => m.ref !== base);
  for (const m of nonBase) {
    if (m.weight === undefined) fail(ctx, `${m.path}.parameters.weight`, 'missing weight', 'a weight (α for a chat model, 1.0 for cp)', 'nothing', 'task_arithmetic needs a weight for every model besides base_model');
  }

  // tokenizer_source picks cp among several weight-1 models
  let tok: string | undefined;
  if (cfg.tokenizer_source !== undefined && cfg.tokenizer_source !== null) {
    if (cfg.tokenizer_source === 'union') fail(unsupported, 'tokenizer_source', 'tokenizer_source "union" is not supported', "cp's tokenizer (tokenizer_source: <cp>)", '"union"', "chatvec keeps cp's tokenizer and vocabulary");
    tok = cfg.tokenizer_source === 'base' ? base : readModelRef(cfg.tokenizer_source, 'tokenizer_source', ctx);
  }
  const candidates = nonBase.filter((m) => m.weight === 1);
  let cp: MkModel;
  if (candidates.length === 0) {
    const baseEntry = models.find((m) => m.ref === base && m.own === 1);
    if (!baseEntry || nonBase.length === 0) {
      fail(unsupported, 'models', 'no model with weight 1.0 besides base_model', 'the continually pretrained model (cp) with weight: 1.0 and each chat model with weight: α', nonBase.map((m) => `${JSON.stringify(m.ref)} weight ${safeJson(m.weight)}`).join(', ') || 'only base_model', 'A chat-vector merge keeps cp whole (weight 1.0) and adds α·(chat − base); give cp weight: 1.0');
    }
    cp = baseEntry; // cp is the base itself: mergekit skips base_model's entry, and base + Σ α·(chat − base) is that merge
  } else {
    cp = candidates.find((m) => m.ref === tok) ?? candidates[0];
  }
  if (tok !== undefined && tok !== cp.ref) fail(unsupported, 'tokenizer_source', `tokenizer_source is not the cp model ${JSON.stringify(cp.ref)}`, JSON.stringify(cp.ref), describeValue(cfg.tokenizer_source), "chatvec keeps cp's tokenizer (cp is the model with weight 1.0); set tokenizer_source to it or remove it");

  const chats = nonBase.filter((m) => m !== cp);
  if (chats.length === 0) fail(unsupported, 'models', 'no chat model', 'besides cp (weight 1.0), at least one chat model with weight: α', `only ${JSON.stringify(cp.ref)}`);

  // mergekit's dtype is the compute dtype and out_dtype (default: dtype) the written one; chatvec's dtype is the written one
  const computeDtype = readDtype(cfg.dtype, 'dtype', ctx);
  const outDtype = readDtype(cfg.out_dtype, 'out_dtype', ctx);
  const comment = readChatvecComment(text, ctx);
  const fallback = new Set((comment.fallback as number[] | undefined) ?? []);
  const vectors: ChatVectorSpec[] = chats.map((m, i) => {
    let alpha = m.weight!;
    if (fallback.has(i) && isCondList(alpha) && alpha.length > 1) {
      const last = alpha[alpha.length - 1];
      if (last.filter === undefined && last.value === 0 && !alpha.slice(0, -1).some(isCatchAll)) alpha = alpha.slice(0, -1);
    }
    return { base, chat: m.ref, alpha };
  });

  return {
    cp: cp.ref,
    vectors,
    embeddings: (comment.embeddings as EmbeddingPolicy | undefined) ?? 'overlap',
    skip: (comment.skip as string[] | undefined) ?? [],
    dtype: outDtype ?? computeDtype ?? 'auto',
    shardSize: (comment.shardSize as number | undefined) ?? DEFAULT_SHARD_SIZE,
    copyTokenRows: (comment.copyTokenRows as string[] | undefined) ?? [],
  };
}

// ---------------------------------------------------------------------------------------------------

/** A recipe file of either kind: our JSON (an object with `chatvec_recipe`) or a mergekit YAML config. */
export function parseRecipeFile(text: string, file?: string): Recipe {
  const t = text.replace(/^\uFEFF/, '').trimStart();
  if (t.startsWith('{') && t.includes('"chatvec_recipe"')) return parseRecipeJson(text, file);
  return parseMergekitYaml(text, file);
}
