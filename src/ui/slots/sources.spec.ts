import { describe, expect, it } from 'vitest';
import { checkHubUrl, hubFormRef, loadHubSettings, saveHubSettings } from './hub-settings.ts';
import { hubRefParts, rememberSource, restorableSpec, specForRef, specFromFolderInput } from './sources.ts';

/** A File as <input webkitdirectory> gives it. */
function picked(relativePath: string, content = 'x'): File {
  const file = new File([content], relativePath.split('/').pop()!);
  Object.defineProperty(file, 'webkitRelativePath', { value: relativePath });
  return file;
}

describe('folder input', () => {
  it('names the model after the chosen folder and keeps paths relative to it', () => {
    const spec = specFromFolderInput([picked('qwen/model.safetensors'), picked('qwen/config.json'), picked('qwen/.git/HEAD'), picked('qwen/onnx/deep/er/model.onnx'), picked('qwen/original/params.json')]);
    expect(spec.kind).toBe('files');
    if (spec.kind !== 'files') return;
    expect(spec.name).toBe('qwen');
    expect(spec.paths).toEqual(['config.json', 'model.safetensors', 'original/params.json']);
    expect(spec.files.map((f) => f.name)).toEqual(['config.json', 'model.safetensors', 'params.json']);
  });

  it('takes files chosen without their folder as loose files', () => {
    const loose = new File(['{}'], 'config.json');
    const spec = specFromFolderInput([loose]);
    expect(spec).toMatchObject({ kind: 'files', name: 'dropped files', paths: ['config.json'] });
  });

  it('refuses nothing and hidden-only folders with what to do', () => {
    expect(() => specFromFolderInput([])).toThrow('No files were chosen.');
    expect(() => specFromFolderInput([picked('m/.cache/x')])).toThrow('The folder "m" has no files. Choose the folder that holds config.json and the *.safetensors files.');
  });
});

describe('remembered sources', () => {
  it('keeps no token and no files', () => {
    expect(rememberSource({ kind: 'hub', repo: 'a/b', hubUrl: 'https://huggingface.co', accessToken: 'hf_x' })).toEqual({ kind: 'hub', repo: 'a/b', hubUrl: 'https://huggingface.co' });
    expect(rememberSource({ kind: 'files', name: 'm', files: [], paths: [] })).toEqual({ kind: 'folder', name: 'm' });
    expect(restorableSpec({ kind: 'hub', repo: 'a/b', revision: 'v1', hubUrl: 'https://hf.example' }, 'hf_y')).toEqual({ kind: 'hub', repo: 'a/b', revision: 'v1', hubUrl: 'https://hf.example', accessToken: 'hf_y' });
    expect(restorableSpec({ kind: 'folder', name: 'm' })).toBeNull();
  });

  it('finds the sources a recipe reference names', () => {
    expect(specForRef('demo/chat')).toEqual({ kind: 'demo', role: 'chat' });
    expect(specForRef('library/2025-01-01-merge')).toEqual({ kind: 'library', id: '2025-01-01-merge' });
    expect(specForRef('local/cp')).toBeNull();
    expect(hubRefParts('Qwen/Qwen2.5-0.5B@main')).toEqual({ repo: 'Qwen/Qwen2.5-0.5B', revision: 'main' });
    expect(hubRefParts('Qwen/Qwen2.5-0.5B')).toEqual({ repo: 'Qwen/Qwen2.5-0.5B' });
    expect(hubRefParts('local/cp')).toBeNull();
    expect(hubRefParts('/abs/path/model')).toBeNull();
  });
});

describe('Hub settings', () => {
  it('checks repository ids and endpoints', () => {
    expect(hubFormRef(' Qwen/Qwen2.5-0.5B-Instruct ', '')).toEqual({ repo: 'Qwen/Qwen2.5-0.5B-Instruct' });
    expect(hubFormRef('Qwen/Qwen2.5-0.5B-Instruct@v1', '')).toEqual({ repo: 'Qwen/Qwen2.5-0.5B-Instruct', revision: 'v1' });
    expect(hubFormRef('Qwen/Qwen2.5-0.5B-Instruct@v1', ' refs/pr/2 ')).toEqual({ repo: 'Qwen/Qwen2.5-0.5B-Instruct', revision: 'refs/pr/2' });
    expect(hubFormRef('', 'main')).toBe('Enter a repository as owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct.');
    expect(hubFormRef('gpt2', '')).toMatch(/^"gpt2" is not a Hub model reference: the owner is missing/);
    expect(checkHubUrl('http://127.0.0.1:8080/hub')).toBeNull();
    expect(checkHubUrl('huggingface.co')).toBe('"huggingface.co" is not a URL: expected e.g. https://huggingface.co.');
    expect(checkHubUrl('file:///etc')).toBe('The Hub endpoint must be an http(s) URL, not file:.');
  });

  it('stores the token only when asked to', () => {
    const map = new Map<string, string>();
    const storage = { getItem: (k: string) => map.get(k) ?? null, setItem: (k: string, v: string) => void map.set(k, v), removeItem: (k: string) => void map.delete(k) } as Storage;
    saveHubSettings({ hubUrl: 'https://hf.example', accessToken: 'hf_x', rememberToken: false }, storage);
    expect(loadHubSettings(storage)).toEqual({ hubUrl: 'https://hf.example', accessToken: '', rememberToken: false });
    saveHubSettings({ hubUrl: 'https://hf.example', accessToken: 'hf_x', rememberToken: true }, storage);
    expect(loadHubSettings(storage)).toEqual({ hubUrl: 'https://hf.example', accessToken: 'hf_x', rememberToken: true });
    saveHubSettings({ hubUrl: 'not a url', accessToken: 'hf_x', rememberToken: false }, storage);
    expect(loadHubSettings(storage)).toEqual({ hubUrl: 'https://hf.example', accessToken: '', rememberToken: false });
  });
});
