// Runs one scenario in headless Chromium for BrowserHarness.cs: reads {url, script, args, timeoutMs} as JSON on stdin,
// opens url (a page on a real http origin, so CORS applies as it does for a user's page), calls the async function
// `script` with `args` in that page, and prints one JSON line: {"ok": true, "result": ..., "console": [...]}
// or {"ok": false, "error": "...", "console": [...]}.
import { chromium } from 'playwright-core';

const input = JSON.parse(await new Promise((resolve) => {
  let text = '';
  process.stdin.setEncoding('utf8');
  process.stdin.on('data', (chunk) => { text += chunk; });
  process.stdin.on('end', () => resolve(text));
}));
const console_ = [];
const timeoutMs = input.timeoutMs ?? 20000;
const browser = await chromium.launch({ executablePath: process.env.HORNBEAM_CHROMIUM ?? '/usr/bin/chromium', headless: true });
let output;
try {
  const page = await browser.newPage();
  // What the browser itself reports (a CORS refusal, a failed EventSource) is only on the console: the test may read it.
  page.on('console', (message) => console_.push(`${message.type()}: ${message.text()}`));
  await page.goto(input.url, { timeout: timeoutMs });
  const run = page.evaluate(`(${input.script})(${JSON.stringify(input.args ?? {})})`);
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`the scenario did not finish within ${timeoutMs} ms`)), timeoutMs);
  });
  const result = await Promise.race([run, timeout]);
  clearTimeout(timer);
  output = { ok: true, result: result ?? null, console: console_ };
} catch (e) {
  output = { ok: false, error: String(e?.message ?? e), console: console_ };
} finally {
  await browser.close();
}
process.stdout.write(JSON.stringify(output) + '\n');
