import { expect, openStudio, test } from './opfs-fixtures.ts';

// A newcomer's first minute (issue #7): the studio opens offline with the trained demo triplet loaded,
// merges it, chats with the merge, and sweeps α — all of it within 60 s on this 2-core machine.

test('first run: demo preloaded → merge → chat → α sweep, under a minute', async ({ page }) => {
  test.setTimeout(120_000);
  const started = Date.now();
  await openStudio(page);
  for (const role of ['base', 'chat', 'cp']) await expect(page.getByTestId(`slot-${role}`).getByTestId('slot-ref')).toHaveText(`demo/${role}`);
  await expect(page.getByTestId('slot-cp').getByTestId('summary-vocab')).toHaveText('4,000');

  // Merge at the default α = 1 into the library.
  await page.getByTestId('merge-name').fill('first merge');
  await page.getByTestId('merge-start').click();
  await expect(page.getByTestId('merge-done')).toContainText('Merged first merge', { timeout: 30_000 });

  // Chat with it: a streamed answer.
  const chat = page.getByTestId('chat');
  await chat.scrollIntoViewIfNeeded();
  await chat.getByTestId('chat-model').selectOption({ label: 'Library: first merge' });
  await chat.getByTestId('chat-open').click();
  await expect(chat.getByTestId('chat-info')).toContainText('first merge', { timeout: 30_000 });
  await chat.getByTestId('chat-input').fill('床前明月光，疑是地上霜。');
  await chat.getByTestId('chat-send').click();
  const reply = chat.getByTestId('chat-assistant').first();
  await expect(reply).toHaveAttribute('data-done', 'true', { timeout: 30_000 });
  expect(((await reply.getAttribute('data-ids')) ?? '').split(',').filter(Boolean).length).toBeGreaterThan(0);
  await expect(chat.getByTestId('chat-rate')).toContainText('tokens/s');

  // Sweep α on the same triplet, in memory.
  const sweep = page.getByTestId('sweep');
  await sweep.scrollIntoViewIfNeeded();
  await sweep.getByTestId('sweep-alphas').fill('0,0.5,1');
  await sweep.getByTestId('sweep-set').selectOption('zh-Hans');
  await sweep.getByTestId('sweep-max-tokens').fill('16');
  await sweep.getByTestId('sweep-run').click();
  await expect(sweep.getByTestId('sweep-point')).toHaveCount(3, { timeout: 60_000 });
  await expect(sweep.getByTestId('sweep-recommendation')).toBeVisible();
  await expect(sweep.getByTestId('sweep-saved-entry')).toHaveCount(1);

  const seconds = (Date.now() - started) / 1000;
  console.log(`first run: ${seconds.toFixed(1)} s`);
  expect(seconds).toBeLessThan(60);
});
