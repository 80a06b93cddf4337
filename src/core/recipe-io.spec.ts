import { describe, expect, it } from 'vitest';
import { parse as parseYaml } from 'yaml';
import { ChatvecError } from './errors.ts';
import { defaultRecipe, type Recipe } from './recipe.ts';
import { parseMergekitYaml, parseRecipeFile, parseRecipeJson, recipeToJson, recipeToMergekitYaml } from './recipe-io.ts';

const CP = 'tokyotech-llm/Llama-3-Swallow-8B-v0.1';
const BASE = 'meta-llama/Meta-Llama-3-8B';
const CHAT = 'meta-llama/Meta-Llama-3-8B-Instruct';

function simple(alpha: Recipe['vectors'][0]['alpha'] = 0.5): Recipe {
  return defaultRecipe(CP, BASE, CHAT, alpha);
}

/** The ChatvecError `fn` throws (fails the test when it throws nothing or something else). */
function caught(fn: () => unknown): ChatvecError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(ChatvecError);
    return e as ChatvecError;
  }
  throw new Error('expected a ChatvecError');
}

describe('recipeToMergekitYaml', () => {
  it('writes the simple case in a pinned format', () => {
    expect(recipeToMergekitYaml(simple(), { cpDtype: 'BF16' })).toBe(
      [
        '# Chat vector merge exported by Chat Vector Studio.',
        '# chatvec computes cp + alpha * (chat - base); mergekit task_arithmetic computes',
        '# base + 1.0 * (cp - base) + alpha * (chat - base): the same sum in a different order,',
        '# so the results can differ in the last bit.',
        'merge_method: task_arithmetic',
        'base_model: meta-llama/Meta-Llama-3-8B',
        'models:',
        '  - model: tokyotech-llm/Llama-3-Swallow-8B-v0.1',
        '    parameters:',
        '      weight: 1.0',
        '  - model: meta-llama/Meta-Llama-3-8B-Instruct',
        '    parameters:',
        '      weight: 0.5',
        'parameters:',
        '  normalize: false',
        'dtype: bfloat16',
        'tokenizer_source: tokyotech-llm/Llama-3-Swallow-8B-v0.1',
        '',
      ].join('\n'),
    );
  });

  it('omits dtype for auto without a cp dtype, and says so', () => {
    const y = recipeToMergekitYaml(simple());
    expect(y).not.toMatch(/^dtype:/m);
    expect(y).toContain(`# dtype omitted: chatvec's "auto" writes cp's dtype, mergekit writes base_model's; set dtype if they differ.\n`);
    expect(recipeToMergekitYaml({ ...simple(), dtype: 'f16' })).toMatch(/^dtype: float16$/m);
    expect(recipeToMergekitYaml({ ...simple(), dtype: 'f32' }, { cpDtype: 'BF16' })).toMatch(/^dtype: float32$/m);
  });

  it('parses with the yaml package into the mergekit structure, α at models[1].parameters.weight', () => {
    const doc = parseYaml(recipeToMergekitYaml(simple(0.35), { cpDtype: 'bf16' }));
    expect(doc).toEqual({
      merge_method: 'task_arithmetic',
      base_model: BASE,
      models: [
        { model: CP, parameters: { weight: 1 } },
        { model: CHAT, parameters: { weight: 0.35 } },
      ],
      parameters: { normalize: false },
      dtype: 'bfloat16',
      tokenizer_source: CP,
    });
    expect(doc.models[1].parameters.weight).toBe(0.35);
    expect(parseYaml(recipeToMergekitYaml(simple([0, 0.5, 1]))).models[1].parameters.weight).toEqual([0, 0.5, 1]);
  });

  it('writes gradients in flow style and filter lists as {filter, value} entries', () => {
    expect(recipeToMergekitYaml(simple([0, 0.5, 1]))).toContain('  - model: meta-llama/Meta-Llama-3-8B-Instruct\n    parameters:\n      weight: [0.0, 0.5, 1.0]\n');
    const y = recipeToMergekitYaml(simple([{ filter: 'self_attn', value: [0, 1] }, { value: 0.5 }]));
    expect(y).toContain('      weight:\n        - filter: self_attn\n          value: [0.0, 1.0]\n        - value: 0.5\nparameters:\n');
    expect(y).not.toContain('# chatvec:');
  });

  it('adds a value 0 entry where no filter matches (mergekit needs a weight there) and marks it in the comment', () => {
    const y = recipeToMergekitYaml(simple([{ filter: 'mlp', value: 0.5 }]));
    expect(y).toContain('      weight:\n        - filter: mlp\n          value: 0.5\n        - value: 0.0\n');
    expect(y).toContain('# chatvec: {"alpha_fallback_added":[0]}\n');
    expect(parseYaml(y).models[1].parameters.weight).toEqual([{ filter: 'mlp', value: 0.5 }, { value: 0 }]);
  });

  it('writes non-default chatvec settings as one-line JSON in a comment, and only those', () => {
    const r: Recipe = { ...simple(), embeddings: 'skip', skip: ['*norm*', 'lm_head.*'], copyTokenRows: ['<|eot_id|>', '<|start_header_id|>'], shardSize: 500_000_000 };
    const y = recipeToMergekitYaml(r);
    expect(y).toContain('# chatvec: {"embeddings":"skip","skip":["*norm*","lm_head.*"],"copy_token_rows":["<|eot_id|>","<|start_header_id|>"],"shard_size":"500MB"}\nmerge_method: task_arithmetic\n');
    expect(recipeToMergekitYaml({ ...simple(), skip: ['*norm*'] })).toContain('# chatvec: {"skip":["*norm*"]}\n');
    expect(recipeToMergekitYaml(simple())).not.toContain('# chatvec:');
  });

  it('quotes model references YAML would read as something else', () => {
    const y = recipeToMergekitYaml(defaultRecipe('true', './models/base model', 'yes', 1));
    expect(y).toContain('base_model: "./models/base model"\n');
    expect(y).toContain('  - model: "true"\n');
    expect(y).toContain('  - model: "yes"\n');
    expect(parseMergekitYaml(y)).toEqual(defaultRecipe('true', './models/base model', 'yes', 1));
  });

  it('writes tiny and huge α as floats PyYAML also reads as floats', () => {
    const y = recipeToMergekitYaml(simple([1e-7, 2e21, -3]));
    expect(y).toContain('weight: [1.0e-7, 2.0e+21, -3.0]');
    expect(parseMergekitYaml(y).vectors[0].alpha).toEqual([1e-7, 2e21, -3]);
  });

  it('rejects vectors with different bases, asking for one merge per base', () => {
    const r: Recipe = { ...simple(), vectors: [{ base: BASE, chat: CHAT, alpha: 1 }, { base: 'other/base', chat: 'other/chat', alpha: 0.5 }] };
    const e = caught(() => recipeToMergekitYaml(r));
    expect(e.code).toBe('mergekit-unsupported');
    expect(e.details.tensor).toBe('vectors[1].base');
    expect(e.message).toBe(
      `tensor "vectors[1].base": the chat vectors use 2 different base models; expected one base model shared by every vector, found "${BASE}", "other/base". mergekit's task_arithmetic takes one base_model: split the recipe into one merge per base (merge the vectors of the first base into cp, then use that output as cp for the next base)`,
    );
  });

  it('rejects what mergekit would misread: LoRA "+", the same model twice', () => {
    const lora = caught(() => recipeToMergekitYaml(defaultRecipe('models/a+b', BASE, CHAT)));
    expect(lora.code).toBe('mergekit-unsupported');
    expect(lora.message).toContain('tensor "cp": mergekit reads "+" in a model reference as model+LoRA adapter');
    const twice = caught(() => recipeToMergekitYaml({ ...simple(), vectors: [{ base: BASE, chat: CHAT, alpha: 1 }, { base: BASE, chat: CHAT, alpha: 0.5 }] }));
    expect(twice.details.tensor).toBe('vectors[1].chat');
    expect(twice.message).toContain('is also vectors[0].chat');
  });

  it('validates the recipe before writing', () => {
    const e = caught(() => recipeToMergekitYaml(simple(NaN)));
    expect(e.message).toBe('tensor "vectors[0].alpha": not a finite number; expected a finite number, found NaN');
  });
});

describe('mergekit round trip: recipe → YAML → recipe', () => {
  const cases: [string, Recipe][] = [
    ['scalar α', simple(0.5)],
    ['α 1 (several weight-1 models: tokenizer_source picks cp)', simple(1)],
    ['negative α', simple(-0.25)],
    ['gradient α', simple([0, 0.25, 0.5, 1])],
    ['filter list α with a catch-all', simple([{ filter: 'self_attn', value: [0, 1] }, { filter: 'mlp', value: 0.5 }, { value: 0.75 }])],
    ['filter list α without a catch-all', simple([{ filter: 'self_attn', value: 0.5 }, { filter: 'mlp', value: [1, 0] }])],
    ['filter list α ending in a real value 0 catch-all', simple([{ filter: 'mlp', value: 0.5 }, { value: 0 }])],
    [
      'several vectors, one base',
      {
        ...simple(),
        vectors: [
          { base: BASE, chat: CHAT, alpha: 0.5 },
          { base: BASE, chat: 'org/math-sft', alpha: [0.1, 0.3] },
          { base: BASE, chat: 'org/code-sft', alpha: [{ filter: 'mlp', value: 0.2 }] },
        ],
      },
    ],
    ['explicit dtype', { ...simple(), dtype: 'bf16' }],
    ['non-default embeddings, skip, copy rows, shard size', { ...simple(), embeddings: 'skip', skip: ['*norm*', 'model.embed_tokens.*'], copyTokenRows: ['<|eot_id|>'], shardSize: 4_294_967_296 }],
    ['cp is the base itself', defaultRecipe(BASE, BASE, CHAT, 0.5)],
  ];
  for (const [name, recipe] of cases) {
    it(name, () => {
      expect(parseMergekitYaml(recipeToMergekitYaml(recipe), 'merge.yaml')).toEqual(recipe);
      expect(parseRecipeFile(recipeToMergekitYaml(recipe), 'merge.yaml')).toEqual(recipe);
    });
  }
});

describe('parseMergekitYaml', () => {
  it('imports a hand-written config (base listed under models, dtype bfloat16)', () => {
    const text = `# Chat vector for Swallow
models:
  - model: meta-llama/Meta-Llama-3-8B
    # no parameters for the base model
  - model: tokyotech-llm/Llama-3-Swallow-8B-v0.1
    parameters:
      weight: 1
  - model: meta-llama/Meta-Llama-3-8B-Instruct
    parameters:
      weight: 0.8
merge_method: task_arithmetic
base_model: meta-llama/Meta-Llama-3-8B
parameters:
  normalize: false
  int8_mask: true
dtype: bfloat16
`;
    const expected: Recipe = {
      cp: CP,
      vectors: [{ base: BASE, chat: CHAT, alpha: 0.8 }],
      embeddings: 'overlap',
      skip: [],
      dtype: 'bf16',
      shardSize: 2_000_000_000,
      copyTokenRows: [],
    };
    expect(parseMergekitYaml(text, 'swallow.yml')).toEqual(expected);
    expect(parseRecipeFile(text, 'swallow.yml')).toEqual(expected);
  });

  it('takes out_dtype over dtype, accepts torch. names and @revision references', () => {
    const text = `merge_method: task_arithmetic
base_model: org/base@v1
models:
  - model: org/cp@main
    parameters: {weight: 1.0}
  - model: org/chat@abc123
    parameters: {weight: [0, 1]}
dtype: float32
out_dtype: torch.float16
`;
    expect(parseMergekitYaml(text)).toEqual({ ...defaultRecipe('org/cp@main', 'org/base@v1', 'org/chat@abc123', [0, 1]), dtype: 'f16' });
  });

  it('uses tokenizer_source to pick cp among several weight-1 models, else the first', () => {
    const models = `models:
  - model: org/a
    parameters: {weight: 1}
  - model: org/b
    parameters: {weight: 1}
merge_method: task_arithmetic
base_model: org/base
`;
    expect(parseMergekitYaml(models + 'tokenizer_source: org/b\n')).toEqual(defaultRecipe('org/b', 'org/base', 'org/a', 1));
    expect(parseMergekitYaml(models)).toEqual(defaultRecipe('org/a', 'org/base', 'org/b', 1));
  });

  it('applies the top-level weight where a model has none, and after its filter list (per-model wins)', () => {
    const text = `merge_method: task_arithmetic
base_model: org/base
parameters:
  weight: 0.3
models:
  - model: org/cp
    parameters: {weight: 1}
  - model: org/chat
  - model: org/chat2
    parameters:
      weight:
        - filter: mlp
          value: 0.9
  - model: org/chat3
    parameters: {weight: 0.6}
`;
    const r = parseMergekitYaml(text);
    expect(r.cp).toBe('org/cp');
    expect(r.vectors).toEqual([
      { base: 'org/base', chat: 'org/chat', alpha: 0.3 },
      { base: 'org/base', chat: 'org/chat2', alpha: [{ filter: 'mlp', value: 0.9 }, { value: 0.3 }] },
      { base: 'org/base', chat: 'org/chat3', alpha: 0.6 },
    ]);
  });

  it('keeps a hand-written trailing value 0 entry (only an exported, marked one is removed)', () => {
    const text = `merge_method: task_arithmetic
base_model: org/base
models:
  - model: org/cp
    parameters: {weight: 1}
  - model: org/chat
    parameters:
      weight: [{filter: mlp, value: 0.5}, {value: 0}]
`;
    expect(parseMergekitYaml(text).vectors[0].alpha).toEqual([{ filter: 'mlp', value: 0.5 }, { value: 0 }]);
  });

  const ok = `merge_method: task_arithmetic
base_model: org/base
models:
  - model: org/cp
    parameters: {weight: 1.0}
  - model: org/chat
    parameters: {weight: 0.5}
`;

  it('rejects other merge methods, naming the method', () => {
    const e = caught(() => parseMergekitYaml(ok.replace('task_arithmetic', 'ties'), 'ties.yaml'));
    expect(e.code).toBe('mergekit-unsupported');
    expect(e.details).toMatchObject({ file: 'ties.yaml', tensor: 'merge_method', expected: 'task_arithmetic', found: 'a string "ties"' });
    expect(e.message).toBe(
      `ties.yaml, tensor "merge_method": merge_method "ties" is not a chat-vector merge; expected task_arithmetic, found a string "ties". Only task_arithmetic is a chat-vector merge: it adds each model's difference from base_model times its weight; other methods sparsify, rescale or interpolate the differences`,
    );
  });

  it('rejects normalize: true, explaining the division by the weight sum', () => {
    const e = caught(() => parseMergekitYaml(ok + 'parameters:\n  normalize: true\n', 'n.yaml'));
    expect(e.code).toBe('mergekit-unsupported');
    expect(e.details.tensor).toBe('parameters.normalize');
    expect(e.message).toBe(
      `n.yaml, tensor "parameters.normalize": normalize: true is not a chat-vector merge; expected false, found true. normalize divides the summed differences by the sum of the weights (1 + α), which also scales cp's own difference from base; set normalize: false (task_arithmetic's default)`,
    );
  });

  it('rejects lambda other than 1', () => {
    const e = caught(() => parseMergekitYaml(ok + 'parameters:\n  lambda: 0.5\n'));
    expect(e.details.tensor).toBe('parameters.lambda');
    expect(e.message).toContain('lambda other than 1 is not a chat-vector merge');
  });

  it('rejects a config with no weight-1 model besides the base', () => {
    const text = `merge_method: task_arithmetic
base_model: org/base
models:
  - model: org/base
  - model: org/a
    parameters: {weight: 0.5}
  - model: org/b
    parameters: {weight: [1, 1]}
`;
    const e = caught(() => parseMergekitYaml(text, 'ta.yaml'));
    expect(e.code).toBe('mergekit-unsupported');
    expect(e.message).toBe(
      'ta.yaml, tensor "models": no model with weight 1.0 besides base_model; expected the continually pretrained model (cp) with weight: 1.0 and each chat model with weight: α, found "org/a" weight 0.5, "org/b" weight [1,1]. A chat-vector merge keeps cp whole (weight 1.0) and adds α·(chat − base); give cp weight: 1.0',
    );
  });

  it('rejects a config with only cp, a missing weight, LoRA and object-form references', () => {
    const onlyCp = caught(() => parseMergekitYaml('merge_method: task_arithmetic\nbase_model: org/base\nmodels:\n  - model: org/cp\n    parameters: {weight: 1}\n'));
    expect(onlyCp.message).toBe('tensor "models": no chat model; expected besides cp (weight 1.0), at least one chat model with weight: α, found only "org/cp"');

    const missing = caught(() => parseMergekitYaml(ok.replace('  - model: org/chat\n    parameters: {weight: 0.5}\n', '  - model: org/chat\n')));
    expect(missing.code).toBe('bad-mergekit-config');
    expect(missing.details.tensor).toBe('models[1].parameters.weight');
    expect(missing.message).toContain('missing weight');

    const lora = caught(() => parseMergekitYaml(ok.replace('model: org/chat', 'model: org/base+org/adapter')));
    expect(lora.code).toBe('mergekit-unsupported');
    expect(lora.details.tensor).toBe('models[1].model');
    expect(lora.message).toContain('LoRA references (model+adapter) are not supported');

    const obj = caught(() => parseMergekitYaml(ok.replace('model: org/chat', 'model: {model: {path: org/chat, revision: main}}')));
    expect(obj.details.tensor).toBe('models[1].model');
    expect(obj.message).toContain('model reference in object form is not supported; expected a string: a folder path or Hub id, optionally owner/name@revision');
  });

  it('rejects bad shapes with the field path', () => {
    const weight = caught(() => parseMergekitYaml(ok.replace('{weight: 0.5}', '{weight: "0.5"}'), 'w.yaml'));
    expect(weight.message).toBe('w.yaml, tensor "models[1].parameters.weight": not a valid α setting; expected a number, a non-empty list of numbers (a gradient), or a non-empty list of {filter, value}, found a string "0.5"');
    const dtype = caught(() => parseMergekitYaml(ok + 'dtype: bf16\n'));
    expect(dtype.message).toBe('tensor "dtype": not a dtype chatvec can write; expected bfloat16, float16 or float32, found a string "bf16"');
    const slices = caught(() => parseMergekitYaml(ok + 'slices: []\n'));
    expect(slices.code).toBe('mergekit-unsupported');
    expect(slices.details.tensor).toBe('slices');
    const key = caught(() => parseMergekitYaml(ok + 'base_modle: x\n'));
    expect(key.message).toContain('tensor "base_modle": unknown key "base_modle"');
    expect(key.message).toContain('Did you mean "base_model"?');
    const union = caught(() => parseMergekitYaml(ok + 'tokenizer_source: union\n'));
    expect(union.details.tensor).toBe('tokenizer_source');
    const notCp = caught(() => parseMergekitYaml(ok + 'tokenizer_source: org/chat\n'));
    expect(notCp.message).toContain('tokenizer_source is not the cp model "org/cp"');
    const yaml = caught(() => parseMergekitYaml('merge_method: [\n', 'broken.yaml'));
    expect(yaml.code).toBe('bad-mergekit-config');
    expect(yaml.message).toMatch(/^broken\.yaml: not valid YAML; expected a mergekit YAML config, found /);
  });

  it('validates the # chatvec comment', () => {
    const e = caught(() => parseMergekitYaml('# chatvec: {"embeddings":"drop"}\n' + ok, 'c.yaml'));
    expect(e.message).toBe('c.yaml, tensor "# chatvec.embeddings": not an allowed value; expected one of "overlap", "skip", found a string "drop"');
  });
});

describe('JSON recipe', () => {
  it('reads the documented example, filling defaults', () => {
    const text = `{ "chatvec_recipe": 1, "cp": "${CP}", "vectors": [{"base":"${BASE}","chat":"${CHAT}","alpha": 1.0}], "embeddings": "overlap", "skip": ["*norm*"], "dtype": "auto", "shard_size": "2GB", "copy_token_rows": ["<|eot_id|>"] }`;
    expect(parseRecipeJson(text, 'r.json')).toEqual({ ...defaultRecipe(CP, BASE, CHAT, 1), skip: ['*norm*'], copyTokenRows: ['<|eot_id|>'] });
    expect(parseRecipeFile(text, 'r.json')).toEqual(parseRecipeJson(text, 'r.json'));
    expect(parseRecipeJson(`{"chatvec_recipe":1,"cp":"a","vectors":[{"base":"b","chat":"c"}]}`)).toEqual(defaultRecipe('a', 'b', 'c', 1));
  });

  it('round trips with every field, in a stable pretty form', () => {
    const r: Recipe = {
      ...simple([{ filter: 'self_attn', value: [0, 1] }, { value: 0.5 }]),
      vectors: [
        { base: BASE, chat: CHAT, alpha: [{ filter: 'self_attn', value: [0, 1] }, { value: 0.5 }] },
        { base: 'other/base', chat: 'other/chat', alpha: [0.2, 0.4] },
      ],
      embeddings: 'skip',
      skip: ['*norm*'],
      dtype: 'f16',
      shardSize: 1234,
      copyTokenRows: ['<|eot_id|>'],
    };
    const json = recipeToJson(r);
    expect(parseRecipeJson(json)).toEqual(r);
    expect(recipeToJson(parseRecipeJson(json))).toBe(json);
    expect(recipeToJson(simple())).toBe(`{
  "chatvec_recipe": 1,
  "cp": "${CP}",
  "vectors": [
    {
      "base": "${BASE}",
      "chat": "${CHAT}",
      "alpha": 0.5
    }
  ],
  "embeddings": "overlap",
  "skip": [],
  "dtype": "auto",
  "shard_size": "2GB",
  "copy_token_rows": []
}
`);
    expect(json).toContain('"value": [0, 1]');
    expect(json).toContain('"alpha": [0.2, 0.4]');
    expect(json).toContain('"shard_size": 1234');
  });

  const base = { chatvec_recipe: 1, cp: 'a', vectors: [{ base: 'b', chat: 'c', alpha: 1 }] };
  const bad = (patch: Record<string, unknown>) => caught(() => parseRecipeJson(JSON.stringify({ ...base, ...patch }), 'r.json'));

  it('rejects bad field types with file, field path, expected and found', () => {
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: '0.5' }] }).message).toBe(
      'r.json, tensor "vectors[0].alpha": not a valid α setting; expected a number, a non-empty list of numbers (a gradient), or a non-empty list of {filter, value}, found a string "0.5"',
    );
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: [] }] }).message).toBe(
      'r.json, tensor "vectors[0].alpha": empty α list; expected a number, a non-empty list of numbers (a gradient), or a non-empty list of {filter, value}, found an empty list',
    );
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: [0.5, 'x'] }] }).message).toBe('r.json, tensor "vectors[0].alpha[1]": not a number; expected a finite number, found a string "x"');
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: [0.5, { value: 1 }] }] }).message).toContain('tensor "vectors[0].alpha": list mixes numbers and {filter, value} entries');
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: [{ filter: 3, value: 1 }] }] }).message).toContain('tensor "vectors[0].alpha[0].filter": not a string');
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: [{ filter: 'mlp' }] }] }).message).toBe('r.json, tensor "vectors[0].alpha[0].value": missing required field; expected a number or a non-empty list of numbers, found nothing');
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: [{ filter: 'mlp', value: 1, weight: 2 }] }] }).message).toBe('r.json, tensor "vectors[0].alpha[0].weight": unknown key "weight"; expected one of filter, value, found 2');
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alpha: { value: 1 } }] }).message).toContain('a single {filter, value} entry is not a setting');
    expect(bad({ vectors: [{ base: 'b', chat: 'c', alhpa: 1 }] }).message).toBe('r.json, tensor "vectors[0].alhpa": unknown key "alhpa"; expected one of base, chat, alpha, found 1. Did you mean "alpha"?');
    expect(bad({ vectors: [{ base: 'b', alpha: 1 }] }).message).toBe('r.json, tensor "vectors[0].chat": missing required field; expected a model folder path or Hub id (owner/name[@revision]), found nothing');
    expect(bad({ vectors: [] }).message).toBe('r.json, tensor "vectors": no chat vector; expected at least one {base, chat, alpha}, found an empty list');
    expect(bad({ cp: 42 }).message).toBe('r.json, tensor "cp": not a string; expected a model folder path or Hub id (owner/name[@revision]), found 42');
    expect(bad({ embeddings: 'drop' }).message).toBe('r.json, tensor "embeddings": not an allowed value; expected one of "overlap", "skip", found a string "drop"');
    expect(bad({ dtype: 'fp16' }).message).toBe('r.json, tensor "dtype": not an allowed value; expected one of "auto", "bf16", "f16", "f32", found a string "fp16"');
    expect(bad({ shard_size: '2 parsecs' }).message).toBe('r.json, tensor "shard_size": not a valid size; expected a number of bytes or e.g. 500MB, 2GB, found "2 parsecs"');
    expect(bad({ shard_size: 0.5 }).message).toBe('r.json, tensor "shard_size": not a valid size; expected a whole number of bytes above 0, or e.g. "500MB", "2GB", found 0.5');
    expect(bad({ skip: ['*norm*', 3] }).message).toBe('r.json, tensor "skip[1]": not a string; expected a non-empty string (tensor-name globs), found 3');
    expect(bad({ copy_token_rows: '<|eot_id|>' }).message).toBe('r.json, tensor "copy_token_rows": not a list; expected a list of special tokens, found a string "<|eot_id|>"');
    expect(bad({ extra: true }).message).toBe('r.json, tensor "extra": unknown key "extra"; expected one of chatvec_recipe, cp, vectors, embeddings, skip, dtype, shard_size, copy_token_rows, found true');
    expect(bad({ chatvec_recipe: 2 }).message).toBe('r.json, tensor "chatvec_recipe": unsupported recipe version; expected 1, found 2. This version of Chat Vector Studio reads recipe version 1');
    for (const e of [bad({ cp: 42 }), bad({ dtype: 'fp16' })]) expect(e.code).toBe('bad-recipe');
  });

  it('rejects non-finite numbers and broken JSON', () => {
    expect(caught(() => parseRecipeJson('{"chatvec_recipe":1,"cp":"a","vectors":[{"base":"b","chat":"c","alpha":[0, 1e999]}]}', 'r.json')).message).toBe(
      'r.json, tensor "vectors[0].alpha[1]": not a finite number; expected a finite number, found Infinity',
    );
    const e = caught(() => parseRecipeJson('{"chatvec_recipe":1,', 'r.json'));
    expect(e.message).toMatch(/^r\.json: not valid JSON; expected a JSON recipe object, found /);
    expect(caught(() => parseRecipeJson('[1]', 'r.json')).message).toContain('r.json: not an object');
  });

  it('validates recipes before writing JSON', () => {
    expect(caught(() => recipeToJson({ ...simple(), cp: '' })).message).toBe('tensor "cp": empty name; expected a model folder path or Hub id (owner/name[@revision]), found a string ""');
  });
});
