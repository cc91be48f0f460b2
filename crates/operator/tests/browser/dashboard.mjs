// The dashboard in a real browser (Debian's Chromium, headless, driven by playwright-core), against
// the testbed. crates/operator/tests/dashboard.rs starts the operator and `sparkplane dashboard`,
// writes the manifests this script applies with kubectl, and runs it; any failed check throws and
// the exit code says so.
//
// Environment: DASHBOARD_URL, NS_KWOK (applications played by kwok), NS_REAL (on the real node),
// MANIFESTS (directory), SCREENSHOTS (directory), KUBECTL, KUBECONFIG, SPARKPLANE_CHROMIUM,
// SPARKPLANE_PLAYWRIGHT (playwright-core's module).
import { strict as assert } from "node:assert";
import { execFileSync } from "node:child_process";
import path from "node:path";

const env = (name) => {
  const value = process.env[name];
  if (!value) throw new Error(`${name} is not set`);
  return value;
};
const url = env("DASHBOARD_URL");
const nsKwok = env("NS_KWOK");
const nsReal = env("NS_REAL");
const manifests = env("MANIFESTS");
const shots = env("SCREENSHOTS");
const { chromium } = await import(env("SPARKPLANE_PLAYWRIGHT"));

const say = (message) => console.error(`browser: ${message}`);
const kubectl = (...args) => execFileSync(env("KUBECTL"), args, { stdio: ["ignore", "pipe", "inherit"] }).toString();
const apply = (file) => kubectl("apply", "-f", path.join(manifests, file));

// What the cluster can put on a page; none of it may run.
const HOSTILE = `<script>window.__pwned = "script"</script><img src=x onerror="window.__pwned = 'img'">`;

const browser = await chromium.launch({
  executablePath: env("SPARKPLANE_CHROMIUM"),
  // No network but loopback here: Chromium's own background traffic is turned off.
  args: ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync"],
});
const context = await browser.newContext({ viewport: { width: 1280, height: 860 } });
const dialogs = [];
context.on("page", (p) => p.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); }));
const page = await context.newPage();
page.on("dialog", (d) => { dialogs.push(d.message()); d.dismiss(); });

const rowNames = () => page.$$eval("#live tbody tr[data-name]", (rows) => rows.map((r) => r.dataset.name));
const stateOf = (name) => page.textContent(`tr[data-name="${name}"] .state`, { timeout: 1000 }).catch(() => null);
async function until(what, check, seconds) {
  const deadline = Date.now() + seconds * 1000;
  let last;
  while (Date.now() < deadline) {
    last = await check();
    if (last) return last;
    await new Promise((r) => setTimeout(r, 250));
  }
  throw new Error(`${what}: not within ${seconds} s (last: ${JSON.stringify(last)})`);
}
const notPwned = async (p) => {
  assert.equal(await p.evaluate(() => window.__pwned), undefined, "cluster content ran as script");
  assert.deepEqual(dialogs, [], "cluster content opened a dialog");
};

try {
  // 1. The list follows the cluster: a new application appears and changes state with no reload.
  await page.goto(`${url}/apps?ns=${nsKwok}`);
  await page.waitForSelector('tr[data-name="alpha"]');
  await until("the live connection", () => page.$("#live-state.live-on"), 10);
  await page.evaluate(() => { window.__sameDocument = true; });
  apply("gamma.json");
  const seen = new Set();
  await until("gamma COMPLETED in the list", async () => {
    const state = await stateOf("gamma");
    if (state) seen.add(state);
    return state === "COMPLETED";
  }, 90);
  assert.ok(await page.evaluate(() => window.__sameDocument === true), "the page reloaded");
  assert.ok(seen.has("RUNNING") || seen.has("SUBMITTED"), `gamma was only seen as ${[...seen]}`);
  say(`gamma seen live as ${[...seen].join(" -> ")}`);
  await page.screenshot({ path: path.join(shots, "list.png"), fullPage: true });

  // 2. Filters: state, label, name; sorting by name.
  await page.selectOption('select[name="state"]', "failed");
  await Promise.all([page.waitForNavigation(), page.click('form.filters button[type="submit"]')]);
  assert.deepEqual(await rowNames(), ["beta"]);
  await page.goto(`${url}/apps?ns=${nsKwok}&label=${encodeURIComponent("team=blue")}&sort=name`);
  assert.deepEqual(await rowNames(), ["beta", "gamma"]);
  await page.goto(`${url}/apps?ns=${nsKwok}`);
  await page.fill('input[name="name"]', "alp");
  await Promise.all([page.waitForNavigation(), page.click('form.filters button[type="submit"]')]);
  assert.deepEqual(await rowNames(), ["alpha"]);
  await page.goto(`${url}/apps?ns=${nsKwok}`);
  await Promise.all([page.waitForNavigation(), page.click('th a:text-is("name")')]);
  assert.deepEqual(await rowNames(), ["alpha", "beta", "gamma"]);
  await page.goto(`${url}/apps?label=${encodeURIComponent("a=b=c")}`);
  assert.match(await page.textContent("p.error"), /label selector/);
  say("filters, sorting and a bad selector's message: ok");

  // 3. The detail page: events (one carrying markup, shown as text, recorded while the page is
  // open: gamma has ended, so only the page's own watch of its events can bring it), status and
  // timeline.
  await page.goto(`${url}/apps/${nsKwok}/gamma`);
  await until("gamma's events", async () => (await page.textContent("table.events")).includes("SparkApplicationSubmitted"), 30);
  assert.ok(!(await page.textContent("table.events")).includes("Hostile"), "the event is there before it was recorded");
  apply("hostile-event.json");
  await until("the new event on the open page", async () => (await page.textContent("table.events")).includes(HOSTILE), 30);
  assert.equal(await page.$$eval("table.events img, table.events script", (e) => e.length), 0);
  assert.ok((await page.textContent("section dl")).includes("COMPLETED"));
  assert.equal(await page.$$eval(".timeline rect", (r) => r.length) >= 1, true, "no pod on the timeline");
  await notPwned(page);
  say("detail page with events: ok");

  // 4. A real application on the real node: live state, the driver log (one line is markup),
  // the Spark UI through the dashboard's port-forward.
  apply("real.json");
  await page.goto(`${url}/apps/${nsReal}/hostile-log`);
  await until("the real driver's log", async () => {
    const log = (await page.textContent("#log")) ?? "";
    return log.includes(HOSTILE) && log.includes("Running Spark version");
  }, 240);
  assert.equal(await page.$$eval("#log img, #log script", (e) => e.length), 0);
  await until("RUNNING on the detail page", async () => (await page.textContent("#live dl"))?.includes("RUNNING"), 60);
  await notPwned(page);
  const [ui] = await Promise.all([context.waitForEvent("page"), page.click('a.button:text-is("Spark UI")')]);
  await ui.waitForLoadState().catch(() => {});
  let uiText = "";
  await until("the Spark UI's jobs page", async () => {
    uiText = (await ui.textContent("body").catch(() => "")) ?? "";
    if (uiText.includes("Spark Jobs")) return true;
    // A first answer can be an error page (the forward's stream not yet open): load it again.
    await ui.reload({ timeout: 5000 }).catch(() => {});
    return false;
  }, 60).catch((e) => { console.error(`browser: the Spark UI tab (${ui.url()}) shows: ${uiText.slice(0, 500)}`); throw e; });
  assert.match(ui.url(), /^http:\/\/127\.0\.0\.1:\d+\//);
  await ui.screenshot({ path: path.join(shots, "spark-ui.png") });
  await ui.close();
  await page.screenshot({ path: path.join(shots, "detail.png"), fullPage: true });
  await until("COMPLETED on the detail page", async () => (await page.textContent("#live dl"))?.includes("COMPLETED"), 240);
  await until("the log's end", async () => (await page.textContent("#log"))?.includes("(the log ended)"), 30);
  await page.screenshot({ path: path.join(shots, "detail-completed.png"), fullPage: true });
  say("real application: log, Spark UI, completion: ok");

  // 5. The overview.
  await page.goto(`${url}/`);
  await page.waitForSelector("table.counts");
  const counts = await page.textContent("table.counts");
  assert.ok(counts.includes(nsKwok) && counts.includes(nsReal), counts);
  assert.ok((await page.textContent(".chart figcaption")).match(/submitted [1-9]/));
  await page.screenshot({ path: path.join(shots, "overview.png"), fullPage: true });
  await notPwned(page);
  say("overview: ok");
} catch (error) {
  await page.screenshot({ path: path.join(shots, "failure.png"), fullPage: true }).catch(() => {});
  console.error(`browser: failed on ${page.url()}`);
  throw error;
} finally {
  await browser.close();
}
say("all checks passed");
