import { execFileSync } from 'node:child_process';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { BrowserContext } from '@playwright/test';

/**
 * The synthetic demo triplet (`make-fixtures OUTDIR --demo`: random weights, vocabulary 300, cp with 8 more rows),
 * for tests of special cases that the trained demo in public/demo does not have (cp's extra vocabulary rows).
 */
export function writeSyntheticDemo(dir: string): void {
  execFileSync('npx', ['tsx', 'scripts/make-fixtures.ts', dir, '--demo']);
}

/** Answer the studio's requests for /demo/{base,chat,cp}/<file> from `dir` instead of public/demo (404 for a file not there). */
export async function serveDemoFrom(context: BrowserContext, dir: string): Promise<void> {
  await context.route(/\/demo\/(base|chat|cp)\/[^/?#]+$/, (route) => {
    const [role, name] = new URL(route.request().url()).pathname.split('/').slice(-2);
    const path = join(dir, role, name);
    return existsSync(path) ? route.fulfill({ path }) : route.fulfill({ status: 404, body: 'not found' });
  });
}
