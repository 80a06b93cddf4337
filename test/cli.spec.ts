import { spawn, spawnSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, writeFileSync, mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { beforeAll, describe, expect, it } from 'vitest';
import { buildTriplet, writeModel, writeTriplet, EOT_TOKEN } from '../scripts/fixtures.ts';
import { parseMergekitYaml } from '../src/core/recipe-io.ts';
import { CancelledError } from '../src/core/errors.ts';
import { mergeTo, recipeFor, tempDir, type Paths } from './helpers.ts';
import { readModel, values } from './reference.ts';

const ROOT = join(import.meta.dirname, '..');
const MAIN = join(ROOT, 'src', 'cli', 'main.ts');

function chatvec(args: string[], env: Record<string, string> = {}) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8' });
  return { code: r.status, stdout: r.stdout, stderr: r.stderr };
}

function hashTree(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  for (const f of readdirSync(dir).sort()) out[f] = createHash('sha256').update(readFileSync(join(dir, f))).digest('hex');
  return out;
}
/** Like chatvec(), without blocking this process: needed when this process serves the child (a test Hub server). */
function chatvecAsync(args: string[], env: Record<string, string> = {}): Promise<{ code: number | null; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, ...args], { cwd: ROOT, env: { ...process.env, ...env } });
    let stdout = '', stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    child.on('close', (code) => resolve({ code, stdout, stderr }));
  });
}
const flags = (p: Paths) => ['--base', p.base, '--chat', p.chat, '--cp', p.cp];

describe('chatvec CLI', () => {
  let dir: string;
  let p: Paths;
  beforeAll(async () => {
    dir = await tempDir();
    p = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 8, seed: 5 });
  });

  it('exit 2 on usage errors', () => {
    expect(chatvec([]).code).toBe(2);
    const r = chatvec(['merge', ...flags(p), '--alpha', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toContain('chatvec: --out is required');
    expect(chatvec(['merge', '--bogus']).stderr).toContain("Unknown option '--bogus'");
    expect(chatvec(['plan', ...flags(p), '--dtype', 'int8']).stderr).toContain('--dtype must be auto, bf16, f16 or f32, not "int8"');
    expect(chatvec(['merge', ...flags(p), '--alpha', 'x', '--out', join(dir, 'x')]).stderr).toContain('--alpha must be a number, not "x"');
  });

  it('inspect prints the summary, --json the details', () => {
    const r = chatvec(['inspect', p.cp]);
    expect(r.code).toBe(0);
    expect(r.stdout).toContain('architecture  LlamaForCausalLM (llama), 2 layers, hidden 64, heads 4/2, intermediate 128');
    expect(r.stdout).toContain('vocabulary    308');
    const j = JSON.parse(chatvec(['inspect', p.cp, '--json']).stdout);
    expect(j.vocabSize).toBe(308);
    expect(j.tensors.find((t: { name: string }) => t.name === 'model.embed_tokens.weight').shape).toEqual([308, 64]);
    expect(j.parameters).toBe(j.tensors.reduce((a: number, t: { shape: number[] }) => a + t.shape.reduce((x, y) => x * y, 1), 0));
    expect(chatvec(['inspect', join(dir, 'nope')]).stderr).toContain(`chatvec: error: ${join(dir, 'nope')}: no such folder`);
  });

  it('plan --json reports per-tensor actions and exits 0 when the plan is clean', () => {
    const r = chatvec(['plan', ...flags(p), '--json', '--skip', '*norm*']);
    expect(r.code).toBe(0);
    const j = JSON.parse(r.stdout);
    expect(j.ok).toBe(true);
    expect(j.tensors.find((t: { name: string }) => t.name === 'model.norm.weight')).toMatchObject({ action: 'copy', reason: 'skip pattern *norm*' });
    expect(j.tensors.find((t: { name: string }) => t.name === 'lm_head.weight')).toMatchObject({ action: 'merge', mergeRows: 300 });
    expect(j.issues.map((i: { code: string }) => i.code)).toContain('vocab-overlap');
  });

  it('merge by flags and by the exported mergekit YAML give identical bytes; inputs are only read', () => {
    const before = [hashTree(p.base), hashTree(p.chat), hashTree(p.cp)];
    const a = join(dir, 'a');
    const r1 = chatvec(['merge', ...flags(p), '--alpha', '0.5', '--out', a]);
    expect(r1.code, r1.stderr).toBe(0);
    expect(r1.stdout).toContain('model.safetensors\t');
    const yamlFile = join(dir, 'recipe.yml');
    writeFileSync(yamlFile, readFileSync(join(a, 'mergekit_config.yml')));
    const b = join(dir, 'b');
    const r2 = chatvec(['merge', yamlFile, '--out', b]);
    expect(r2.code, r2.stderr).toBe(0);
    expect(hashTree(b)['model.safetensors']).toBe(hashTree(a)['model.safetensors']);
    expect([hashTree(p.base), hashTree(p.chat), hashTree(p.cp)]).toEqual(before);
  });

  it('refuses a non-empty output folder without --force and never touches other files', () => {
    const out = join(dir, 'busy');
    mkdirSync(out);
    writeFileSync(join(out, 'notes.txt'), 'mine');
    const r = chatvec(['merge', ...flags(p), '--alpha', '1', '--out', out]);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain(`chatvec: error: ${out}: the output folder is not empty; expected an empty or new folder, found 1 file(s): notes.txt. Choose another folder, or pass --force`);
    expect(readdirSync(out)).toEqual(['notes.txt']);
    expect(chatvec(['merge', ...flags(p), '--alpha', '1', '--out', out, '--force']).code).toBe(0);
    expect(readFileSync(join(out, 'notes.txt'), 'utf8')).toBe('mine');
    expect(readdirSync(out).filter((f) => f.endsWith('.partial') || f.startsWith('.chatvec'))).toEqual([]);
  });

  it('--resume without an interrupted merge is an error', () => {
    const r = chatvec(['merge', ...flags(p), '--alpha', '1', '--out', join(dir, 'fresh'), '--resume']);
    expect(r.code).toBe(1);
    expect(r.stderr).toContain('there is no interrupted merge to resume');
  });
});

describe('resume', () => {
  let dir: string;
  let p: Paths;
  let reference: Record<string, string>;
  const opts = (out: string) => [...flags(p), '--alpha', '0.8', '--shard-size', '700KB', '--out', out];
  const env = { CHATVEC_CHUNK_ELEMENTS: '2048', CHATVEC_CHECKPOINT_BYTES: '16384' };
  beforeAll(async () => {
    dir = await tempDir();
    p = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', layers: 4, hiddenSize: 256, intermediate: 688, cpExtraTokens: 8, seed: 9 });
    const r = chatvec(['merge', ...opts(join(dir, 'clean'))], env);
    expect(r.code, r.stderr).toBe(0);
    reference = hashTree(join(dir, 'clean'));
    expect(Object.keys(reference).filter((f) => f.startsWith('model-')).length).toBeGreaterThan(3);
  });

  it('after SIGKILL mid-merge, --resume gives identical bytes', async () => {
    const out = join(dir, 'killed');
    const child = spawn(process.execPath, ['--import', 'tsx', MAIN, 'merge', ...opts(out)], { cwd: ROOT, env: { ...process.env, ...env }, stdio: 'ignore' });
    const manifest = join(out, '.chatvec-resume.json');
    // Kill once the merge has recorded progress past the first shard.
    const killedAt = await new Promise<{ shard: number; bytes: number }>((resolve, reject) => {
      const timer = setInterval(() => {
        try {
          const m = JSON.parse(readFileSync(manifest, 'utf8'));
          if (m.current.shard >= 1 && m.current.bytes > 0) {
            child.kill('SIGKILL');
            clearInterval(timer);
            resolve(m.current);
          }
        } catch {
          /* not written yet, or mid-rename */
        }
      }, 2);
      child.on('exit', () => {
        clearInterval(timer);
        reject(new Error('merge finished before it could be killed'));
      });
    });
    await new Promise((r) => child.on('exit', r));
    expect(killedAt.shard).toBeGreaterThanOrEqual(1);
    expect(existsSync(join(out, 'config.json'))).toBe(false);
    const again = chatvec(['merge', ...opts(out)], env);
    expect(again.code).toBe(1);
    expect(again.stderr).toContain('the output folder holds an interrupted merge. Pass --resume to continue it, or --force to start over');
    const other = chatvec(['merge', ...flags(p), '--alpha', '0.7', '--shard-size', '700KB', '--out', out, '--resume'], env);
    expect(other.code).toBe(1);
    expect(other.stderr).toContain('the interrupted merge in this folder used other inputs or another recipe');
    const r = chatvec(['merge', ...opts(out), '--resume'], env);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toMatch(/resumed after \d/);
    expect(hashTree(out)).toEqual(reference);
  });

  it('cancel through the AbortSignal, then resume, gives identical bytes', async () => {
    const out = join(dir, 'cancelled');
    const ac = new AbortController();
    const recipe = recipeFor(p, { shardSize: 700_000 }, 0.8);
    let seen = 0;
    await expect(
      mergeTo(recipe, out, {
        signal: ac.signal,
        chunkElements: 2048,
        checkpointBytes: 16384,
        onProgress: (pr) => {
          seen = pr.bytesDone;
          if (pr.bytesDone > pr.bytesTotal / 2) ac.abort();
        },
      }),
    ).rejects.toBeInstanceOf(CancelledError);
    expect(seen).toBeGreaterThan(0);
    const res = await mergeTo(recipe, out, { resume: true, chunkElements: 2048 });
    expect(res.resumedBytes).toBeGreaterThan(res.bytesTotal / 2);
    const h = hashTree(out);
    for (const f of Object.keys(reference).filter((f) => f.startsWith('model'))) expect(h[f], f).toBe(reference[f]);
  });
});

describe('what the output carries', () => {
  let dir: string;
  let p: Paths;
  beforeAll(async () => {
    dir = await tempDir();
    p = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 8, seed: 21 });
  });

  it('chat template and eos from chat, token rows copied by string lookup, config and recipe', async () => {
    const out = join(dir, 'out');
    const recipe = recipeFor(p, { copyTokenRows: [EOT_TOKEN] }, 0.5);
    await mergeTo(recipe, out);
    const chatTok = JSON.parse(readFileSync(join(p.chat, 'tokenizer_config.json'), 'utf8'));
    const outTok = JSON.parse(readFileSync(join(out, 'tokenizer_config.json'), 'utf8'));
    const cpTokJson = JSON.parse(readFileSync(join(p.cp, 'tokenizer.json'), 'utf8'));
    const chatTokJson = JSON.parse(readFileSync(join(p.chat, 'tokenizer.json'), 'utf8'));
    expect(outTok.chat_template).toBe(chatTok.chat_template);
    expect(outTok.eos_token).toBe(EOT_TOKEN);
    expect(readFileSync(join(out, 'tokenizer.json'))).toEqual(readFileSync(join(p.cp, 'tokenizer.json')));
    const cpEot = cpTokJson.added_tokens.find((t: { content: string }) => t.content === EOT_TOKEN).id;
    const chatEot = chatTokJson.added_tokens.find((t: { content: string }) => t.content === EOT_TOKEN).id;
    expect(cpEot).toBe(305);
    expect(chatEot).toBe(297);
    const cfg = JSON.parse(readFileSync(join(out, 'config.json'), 'utf8'));
    const cpCfg = JSON.parse(readFileSync(join(p.cp, 'config.json'), 'utf8'));
    expect(cfg.eos_token_id).toEqual([cpEot, cpCfg.eos_token_id]);
    expect(cfg.torch_dtype).toBe('bfloat16');
    expect(JSON.parse(readFileSync(join(out, 'generation_config.json'), 'utf8')).eos_token_id).toEqual([cpEot, cpCfg.eos_token_id]);
    const merged = readModel(out), chat = readModel(p.chat);
    for (const name of ['model.embed_tokens.weight', 'lm_head.weight']) {
      const o = values(merged.get(name)!), c = values(chat.get(name)!);
      expect(o.slice(cpEot * 64, cpEot * 64 + 64)).toEqual(c.slice(chatEot * 64, chatEot * 64 + 64));
      expect(o.slice(chatEot * 64, chatEot * 64 + 64)).not.toEqual(c.slice(chatEot * 64, chatEot * 64 + 64));
    }
    expect(parseMergekitYaml(readFileSync(join(out, 'mergekit_config.yml'), 'utf8'))).toMatchObject({ cp: p.cp, vectors: [{ base: p.base, chat: p.chat, alpha: 0.5 }], copyTokenRows: [EOT_TOKEN] });
    const card = readFileSync(join(out, 'README.md'), 'utf8');
    expect(card).toContain(`- chat vector: \`${p.chat}\` − \`${p.base}\`, α = 0.5`);
    expect(card).toContain(`| cp | \`${p.cp}\` | — | ${readFileSync(join(p.cp, 'model.safetensors')).length} | ${readModel(p.cp).size} |`);
  });

  it('a chat model without a template is reported, and an unknown token is an error naming it', async () => {
    const t = buildTriplet({ arch: 'llama', dtype: 'BF16', layers: 2, seed: 2 });
    const tokCfg = { ...(t.chat.files!['tokenizer_config.json'] as Record<string, unknown>) };
    delete tokCfg.chat_template;
    await writeModel(join(dir, 'nt', 'base'), t.base);
    await writeModel(join(dir, 'nt', 'cp'), t.cp);
    await writeModel(join(dir, 'nt', 'chat'), { ...t.chat, files: { ...t.chat.files, 'tokenizer_config.json': tokCfg } });
    const q = { base: join(dir, 'nt', 'base'), chat: join(dir, 'nt', 'chat'), cp: join(dir, 'nt', 'cp') };
    const res = await mergeTo(recipeFor(q), join(dir, 'nt-out'));
    expect(res.notes).toContain(`warning: the chat model (${q.chat}) has no chat template; the output has none`);
    await expect(mergeTo(recipeFor(q, { copyTokenRows: ['<|im_end|>'] }), join(dir, 'nt-out2'))).rejects.toThrow(`${q.cp}/tokenizer.json, tensor "<|im_end|>": token not found in the tokenizer; expected "<|im_end|>" in added_tokens or model.vocab, found no such token`);
  });
});

describe('Hub references in the CLI', () => {
  it('merges owner/name refs from the endpoint in HF_ENDPOINT into the same bytes as the local folders; HF_TOKEN opens gated repos', async () => {
    const { startHubServer } = await import('../e2e/hub-server.ts');
    const dir = await tempDir();
    const p = await writeTriplet(join(dir, 'in'), { arch: 'llama', dtype: 'BF16', layers: 2, cpExtraTokens: 8, seed: 31 });
    const server = await startHubServer({ repos: { 'lab/base': p.base, 'lab/chat': p.chat, 'lab/cp': p.cp }, gated: { 'lab/chat': 'hf_testtoken' } });
    try {
      const local = chatvec(['merge', ...flags(p), '--alpha', '0.5', '--out', join(dir, 'local')]);
      expect(local.code, local.stderr).toBe(0);
      const refs = ['--base', 'lab/base', '--chat', 'hf://lab/chat@main', '--cp', 'lab/cp'];
      const denied = await chatvecAsync(['merge', ...refs, '--alpha', '0.5', '--out', join(dir, 'hub0')], { HF_ENDPOINT: server.url });
      expect(denied.code).toBe(1);
      expect(denied.stderr).toContain('gated or private');
      const r = await chatvecAsync(['merge', ...refs, '--alpha', '0.5', '--out', join(dir, 'hub')], { HF_ENDPOINT: server.url, HF_TOKEN: 'hf_testtoken' });
      expect(r.code, r.stderr).toBe(0);
      expect(hashTree(join(dir, 'hub'))['model.safetensors']).toBe(hashTree(join(dir, 'local'))['model.safetensors']);
      expect(readFileSync(join(dir, 'hub', 'README.md'), 'utf8')).toMatch(/\| cp \| `lab\/cp` \| [0-9a-f]{40} \|/);
    } finally {
      await server.close();
    }
  });
});
