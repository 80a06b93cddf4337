/**
 * Hub settings shared by every slot: the endpoint (remembered) and the access token (in memory only, unless the
 * person ticks "remember", then in localStorage). The worker keeps the token in its memory only.
 */
import { parseHubRef, type HubRef } from '../../hub/parse-ref.ts';

export const DEFAULT_HUB_URL = 'https://huggingface.co';
const URL_KEY = 'chatvec.hub.url';
const TOKEN_KEY = 'chatvec.hub.token';

export interface HubSettings {
  hubUrl: string;
  accessToken: string;
  rememberToken: boolean;
}

export function loadHubSettings(storage: Storage | null = browserStorage()): HubSettings {
  const hubUrl = read(storage, URL_KEY);
  const token = read(storage, TOKEN_KEY);
  return { hubUrl: hubUrl && checkHubUrl(hubUrl) === null ? hubUrl : DEFAULT_HUB_URL, accessToken: token ?? '', rememberToken: token !== null };
}

export function saveHubSettings(settings: HubSettings, storage: Storage | null = browserStorage()): void {
  if (!storage) return;
  try {
    if (checkHubUrl(settings.hubUrl) === null) storage.setItem(URL_KEY, settings.hubUrl);
    if (settings.rememberToken && settings.accessToken) storage.setItem(TOKEN_KEY, settings.accessToken);
    else storage.removeItem(TOKEN_KEY);
  } catch {
    /* storage full or blocked: the settings stay in memory for this tab */
  }
}

/**
 * The repository and revision from the form: the repository field may carry `@revision` itself (as copied from a
 * recipe); a revision typed in its own field wins. A string says why the fields are not usable.
 */
export function hubFormRef(repo: string, revision: string): HubRef | string {
  if (repo.trim() === '') return 'Enter a repository as owner/name, e.g. Qwen/Qwen2.5-0.5B-Instruct.';
  try {
    const ref = parseHubRef(repo);
    const rev = revision.trim();
    return rev ? parseHubRef(`${ref.repo}@${rev}`) : ref;
  } catch (e) {
    return (e as Error).message;
  }
}

/** Why an endpoint is not usable, or null. */
export function checkHubUrl(url: string): string | null {
  let parsed: URL;
  try {
    parsed = new URL(url);
  } catch {
    return `"${url}" is not a URL: expected e.g. ${DEFAULT_HUB_URL}.`;
  }
  if (parsed.protocol !== 'https:' && parsed.protocol !== 'http:') return `The Hub endpoint must be an http(s) URL, not ${parsed.protocol}.`;
  return null;
}

/** The endpoint without a trailing slash, as the Hub client expects it. */
export function normalizeHubUrl(url: string): string {
  return url.trim().replace(/\/+$/, '');
}

export function browserStorage(): Storage | null {
  try {
    return typeof localStorage === 'undefined' ? null : localStorage;
  } catch {
    return null;
  }
}

function read(storage: Storage | null, key: string): string | null {
  try {
    return storage?.getItem(key) ?? null;
  } catch {
    return null;
  }
}
