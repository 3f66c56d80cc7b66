// Runs scenarios in headless Chromium for BrowserHarness.cs. One driver serves a whole test run: it launches the
// browser once, then reads one JSON line per scenario on stdin, {id, url, script, args, timeoutMs}, and answers each
// with one JSON line {"id", "ok": true, "result", "console"} or {"id", "ok": false, "error", "console"}, in the order
// scenarios finish. Each scenario has a browser context of its own (no cookies, cache or storage shared), opens url (a
// page on a real http origin, so CORS applies as it does for a user's page) and calls the async function `script`
// with `args` there. The driver ends, closing the browser, when stdin closes: the test host has exited or died.
import { createInterface } from 'node:readline';
import { chromium } from 'playwright-core';

const browser = await chromium.launch({ executablePath: process.env.HORNBEAM_CHROMIUM ?? '/usr/bin/chromium', headless: true });
const running = new Set();

async function run(input) {
  const console_ = [];
  const timeoutMs = input.timeoutMs ?? 20000;
  let context;
  try {
    context = await browser.newContext();
    const page = await context.newPage();
    // What the browser itself reports (a CORS refusal, a failed EventSource) is only on the console: the test may read it.
    page.on('console', (message) => console_.push(`${message.type()}: ${message.text()}`));
    await page.goto(input.url, { timeout: timeoutMs });
    const evaluation = page.evaluate(`(${input.script})(${JSON.stringify(input.args ?? {})})`);
    let timer;
    const timeout = new Promise((_, reject) => {
      timer = setTimeout(() => reject(new Error(`the scenario did not finish within ${timeoutMs} ms`)), timeoutMs);
    });
    const result = await Promise.race([evaluation, timeout]);
    clearTimeout(timer);
    return { id: input.id, ok: true, result: result ?? null, console: console_ };
  } catch (e) {
    return { id: input.id, ok: false, error: String(e?.message ?? e), console: console_ };
  } finally {
    // Closing the context closes its pages, and with them any socket or stream the scenario left open.
    await context?.close().catch(() => {});
  }
}

for await (const line of createInterface({ input: process.stdin })) {
  if (line.trim() === '') continue;
  const input = JSON.parse(line);
  const scenario = run(input).then((output) => process.stdout.write(JSON.stringify(output) + '\n'));
  running.add(scenario);
  scenario.finally(() => running.delete(scenario));
}
await Promise.allSettled(running);
await browser.close();
