import { type BrowserContext, chromium } from 'playwright-core';

/** Debian's Chromium, headless, as every dashboard test drives it (playwright-core). */
export function launchBrowser(
  userDataDir: string,
  viewport: { width: number; height: number } = { width: 1280, height: 900 },
): Promise<BrowserContext> {
  return chromium.launchPersistentContext(userDataDir, {
    executablePath: '/usr/bin/chromium',
    args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking'],
    viewport,
  });
}
