import { expect, test } from '@playwright/test';

/**
 * Every test of the file starts on the studio with its demo plan ready, at a fixed viewport, and
 * fails if the page threw an uncaught error along the way.
 */
export function openStudioEachTest(): void {
  let pageErrors: string[] = [];
  test.beforeEach(async ({ page }) => {
    pageErrors = [];
    page.on('pageerror', (e) => pageErrors.push(e.message));
    await page.setViewportSize({ width: 1200, height: 900 });
    await page.goto('/');
    await expect(page.getByTestId('report')).toHaveAttribute('data-state', 'ready');
  });
  test.afterEach(() => expect(pageErrors).toEqual([]));
}
