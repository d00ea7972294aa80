// The chat page at `/` in a real headless Chromium (Debian's), driven by playwright-core: types a
// message, waits for the streamed answer, stops a generation, saves screenshots into OUT_DIR.
// Usage: node web_page.mjs BASE_URL OUT_DIR
import assert from "node:assert/strict";
import { chromium } from "playwright-core";

const [base, outDir] = process.argv.slice(2);
const browser = await chromium.launch({
  executablePath: "/usr/bin/chromium",
  args: ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-dev-shm-usage"],
});
try {
  const page = await browser.newPage();
  const external = [];
  page.on("request", (r) => { if (!r.url().startsWith(base)) external.push(r.url()); });
  await page.goto(base + "/");
  await page.fill("#max_tokens", "12");
  await page.fill("#temperature", "0");
  await page.fill("#input", "Hello there!");
  await page.click("#send");
  await page.waitForSelector(".msg.assistant[data-done='1']", { timeout: 60000 });
  const answer = await page.textContent(".msg.assistant");
  assert.ok(answer.length > 0, "the streamed answer is empty");
  await page.screenshot({ path: outDir + "/answer.png" });

  // A long generation (sampled: the random-weight model almost never draws eos), stopped.
  await page.fill("#max_tokens", "400");
  await page.fill("#temperature", "1");
  await page.fill("#input", "Tell me a long story");
  await page.click("#send");
  await page.waitForFunction(() => document.querySelectorAll(".msg.assistant")[1]?.textContent.length > 0, null,
                             { timeout: 60000 });
  await page.click("#stop");
  await page.waitForSelector(".msg.assistant[data-stopped='1']", { timeout: 10000 });
  assert.equal(await page.isDisabled("#stop"), true);
  await page.screenshot({ path: outDir + "/stopped.png" });

  await page.click("#new");
  assert.equal(await page.locator(".msg").count(), 0);
  assert.deepEqual(external, [], "the page fetched something from elsewhere");
  console.log("web page: ok");
} finally {
  await browser.close();
}
