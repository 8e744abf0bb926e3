// Run scripted playback scenarios on the CMCD test pages (hls.html, dash.html, shaka.html) in one
// headless Chromium via playwright-core; called by tests/cmcd_browser.py.
//
// stdin: JSON
//   {
//     "chromium": "/usr/bin/chromium",          // executable (default /usr/bin/chromium)
//     "timeout_s": 90,                          // hard limit for the whole run (exit 2)
//     "pages": [{
//       "name": "hls-main",                     // echoed back
//       "url": "http://127.0.0.1:PORT/hls.html?manifest=...&collector=...&cid=...&sid=...",
//       "steps": [[5, "pause"], [8, "play"], [20, "seek", 50], [20, "wait_for", "ended", 30],
//                 ["+1", "destroy"], ["+1.5", "close"]]
//     }, ...]
//   }
// A step is [at, action, ...args]. `at` is a number (seconds since the page's navigation began)
// or a string "+S" (S seconds after the previous step finished). Actions:
//   pause | play | seek S | destroy      call window.control.* on the page
//   wait_for STATE|[STATES] TIMEOUT_S    wait until window.truth.state is one of STATES (or times out)
//   snapshot                             store a copy of window.truth in "snapshots"
//   eval EXPRESSION                      evaluate a JS expression; result stored in "evals"
//   close                                take the final truth and close the page (tab closed: no unload
//                                        handling by the players, like a viewer closing the tab)
// Without a "close" step the page is closed after the last step. All pages run concurrently, each in
// its own browser context (fresh storage).
//
// stdout: JSON {"pages": [{name, url, truth, snapshots, evals, console, console_errors, page_errors,
//   requests_failed, steps, nav_ts, closed_ts, wall_s}], "browser": version, "wall_s": s}
// Exit codes: 0 done (page-level problems are reported, not fatal), 1 bad input, 2 timeout, 3 crash.
import { chromium } from "playwright-core";

const FLAGS = [
  "--no-sandbox",
  "--disable-gpu",
  "--disable-quic",
  "--no-first-run",
  "--disable-background-networking",
  "--disable-component-update",
  "--disable-sync",
  "--autoplay-policy=no-user-gesture-required",
  "--mute-audio",
];

function readStdin() {
  return new Promise((resolve, reject) => {
    let data = "";
    process.stdin.setEncoding("utf8");
    process.stdin.on("data", (chunk) => (data += chunk));
    process.stdin.on("end", () => resolve(data));
    process.stdin.on("error", reject);
  });
}

const sleep = (ms) => new Promise((r) => setTimeout(r, Math.max(0, ms)));

async function runPage(browser, spec) {
  const out = {
    name: spec.name,
    url: spec.url,
    truth: null,
    snapshots: [],
    evals: [],
    console: [],
    console_errors: [],
    page_errors: [],
    requests_failed: [],
    steps: [],
    nav_ts: null,
    closed_ts: null,
    wall_s: null,
  };
  const context = await browser.newContext();
  const page = await context.newPage();
  page.on("console", (msg) => {
    const entry = { ts: Date.now(), type: msg.type(), text: msg.text() };
    if (msg.type() === "error" || msg.type() === "warning") out.console.push(entry);
    if (msg.type() === "error") out.console_errors.push(msg.text());
  });
  page.on("pageerror", (err) => out.page_errors.push(String(err && err.stack ? err.stack : err)));
  page.on("requestfailed", (req) =>
    out.requests_failed.push({ url: req.url(), error: (req.failure() || {}).errorText || "" }),
  );
  let closed = false;
  const snapshot = async () => (closed ? null : page.evaluate(() => window.truthSnapshot && window.truthSnapshot()));
  const t0 = Date.now();
  out.nav_ts = t0;
  await page.goto(spec.url, { waitUntil: "load", timeout: 15000 });
  let prevEnd = t0;
  for (const step of spec.steps || []) {
    const [at, action, ...args] = step;
    const due = typeof at === "string" && at.startsWith("+") ? prevEnd + Number(at.slice(1)) * 1000 : t0 + Number(at) * 1000;
    await sleep(due - Date.now());
    const entry = { at: at, action: action, args: args, ts: Date.now() };
    out.steps.push(entry);
    if (closed) break;
    switch (action) {
      case "pause":
        await page.evaluate(() => window.control.pause());
        break;
      case "play":
        await page.evaluate(() => window.control.play());
        break;
      case "seek":
        await page.evaluate((s) => window.control.seek(s), Number(args[0]));
        break;
      case "destroy":
        await page.evaluate(() => window.control.destroy());
        break;
      case "wait_for": {
        const states = Array.isArray(args[0]) ? args[0] : [args[0]];
        const timeoutMs = Number(args[1] ?? 60) * 1000;
        try {
          await page.waitForFunction((st) => window.truth && st.includes(window.truth.state), states, {
            timeout: timeoutMs,
            polling: 50,
          });
          entry.result = "ok";
        } catch {
          entry.result = "timeout";
        }
        break;
      }
      case "snapshot":
        out.snapshots.push(await snapshot());
        break;
      case "eval":
        out.evals.push(await page.evaluate(String(args[0])));
        break;
      case "close":
        out.truth = await snapshot();
        out.closed_ts = Date.now();
        closed = true;
        await page.close();
        break;
      default:
        throw new Error(`unknown action ${JSON.stringify(action)} in page ${spec.name}`);
    }
    entry.done_ts = Date.now();
    prevEnd = entry.done_ts;
  }
  if (!closed) {
    out.truth = await snapshot();
    out.closed_ts = Date.now();
    await page.close();
  }
  await context.close();
  out.wall_s = (Date.now() - t0) / 1000;
  return out;
}

async function main() {
  let input;
  try {
    input = JSON.parse(await readStdin());
    if (!Array.isArray(input.pages) || input.pages.length === 0) throw new Error("no pages");
  } catch (e) {
    process.stderr.write(`bad input: ${e}\n`);
    process.exit(1);
  }
  const timeoutS = Number(input.timeout_s ?? 90);
  const timer = setTimeout(() => {
    process.stderr.write(`run.mjs: hard timeout of ${timeoutS} s reached\n`);
    process.exit(2);
  }, timeoutS * 1000);
  const started = Date.now();
  const browser = await chromium.launch({
    executablePath: input.chromium || "/usr/bin/chromium",
    headless: true,
    args: FLAGS,
    timeout: 30000,
  });
  try {
    const pages = await Promise.all(
      input.pages.map((spec) =>
        runPage(browser, spec).catch((e) => ({ name: spec.name, url: spec.url, crash: String(e && e.stack ? e.stack : e) })),
      ),
    );
    const result = { browser: browser.version(), wall_s: (Date.now() - started) / 1000, pages };
    process.stdout.write(JSON.stringify(result));
  } finally {
    await browser.close();
    clearTimeout(timer);
  }
}

main().catch((e) => {
  process.stderr.write(`run.mjs crashed: ${e && e.stack ? e.stack : e}\n`);
  process.exit(3);
});
