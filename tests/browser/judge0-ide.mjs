// Drives the Judge0 IDE test page (judge0-ide/index.html) in Chromium:
//   node judge0-ide.mjs '<JSON list of visits>'
// A visit is {"page": URL, "runs": [{"language_id", "source", "stdin"}]}:
// load the page, wait for its language list, then for each run pick the
// language, type the source and input, press Run and wait for the result.
// Prints one JSON document: for each visit, what the page showed (read from
// its DOM) and the errors its console logged.
import { withBrowser } from "./chromium.mjs";

const WAIT_MS = 60_000;
const visits = JSON.parse(process.argv[2]);

const text = (page, selector) => page.$eval(selector, (e) => e.textContent);

// Selects `id` in the page's language list; if the list lacks it (the
// languages did not load), adds it, as a page that remembered it would.
const pickLanguage = (page, id) =>
    page.$eval(
        "#language",
        (select, id) => {
            const listed = Array.from(select.options).some((o) => o.value === String(id));
            if (!listed) select.add(new Option(`language ${id}`, id));
            select.value = String(id);
            return listed;
        },
        id,
    );

async function runOne(page, run) {
    const listed = await pickLanguage(page, run.language_id);
    await page.fill("#source", run.source);
    await page.fill("#stdin", run.stdin ?? "");
    await page.$eval("#result", (e) => (e.dataset.state = "idle"));
    await page.click("#run");
    await page.waitForSelector('#result[data-state="done"]', { timeout: WAIT_MS });
    const shown = { listed };
    for (const field of ["language-name", "status", "stdout", "compile-output", "error"]) {
        shown[field] = await text(page, `#${field}`);
    }
    return shown;
}

async function visit(browser, { page: url, runs }) {
    const context = await browser.newContext();
    const page = await context.newPage();
    const errors = [];
    page.on("console", (m) => m.type() === "error" && errors.push(m.text()));
    page.on("pageerror", (e) => errors.push(String(e)));
    await page.goto(url);
    await page.waitForSelector('#languages:not([data-state="loading"])', { timeout: WAIT_MS });
    const languages = {
        state: await page.$eval("#languages", (e) => e.dataset.state),
        shown: await text(page, "#languages"),
    };
    const results = [];
    for (const run of runs) {
        results.push(await runOne(page, run));
    }
    await context.close();
    return { origin: new URL(url).origin, languages, runs: results, console: errors };
}

const shown = await withBrowser(3 * WAIT_MS, async (browser) => {
    const all = [];
    for (const v of visits) {
        all.push(await visit(browser, v));
    }
    return all;
});
process.stdout.write(JSON.stringify(shown));
