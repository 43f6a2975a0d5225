// Debian's Chromium (/usr/bin/chromium, from apt) under playwright-core,
// headless and kept off the network: the tests' pages talk to loopback only.
import { chromium } from "playwright-core";

export const CHROMIUM = "/usr/bin/chromium";

const OFF_THE_NETWORK = [
    // The tests run as root, where Chromium refuses to start with its
    // sandbox; the pages it loads are the project's own fixtures.
    "--no-sandbox",
    // Every name resolves to nothing, so no request leaves the machine;
    // the pages are reached at 127.0.0.1 (an address, never resolved).
    "--host-resolver-rules=MAP * ~NOTFOUND, EXCLUDE 127.0.0.1",
    // No proxy from the environment either.
    "--no-proxy-server",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-domain-reliability",
    "--disable-client-side-phishing-detection",
    "--disable-default-apps",
    "--disable-extensions",
    "--disable-breakpad",
    "--no-first-run",
    "--no-default-browser-check",
    "--no-pings",
    "--metrics-recording-only",
    "--disable-features=Translate,OptimizationHints,MediaRouter,AutofillServerCommunication",
    // /dev/shm may be small in a container.
    "--disable-dev-shm-usage",
];

// Launches Chromium; `tag`, if given, is an inert switch
// (--whipcode-test=...) naming this launch's processes, so that a test can
// find any it left behind.
export async function launch(tag) {
    const args = tag ? [...OFF_THE_NETWORK, tag] : OFF_THE_NETWORK;
    return chromium.launch({ executablePath: CHROMIUM, headless: true, args, timeout: 30_000 });
}

// Runs `work(browser)` with a deadline; the browser is closed on every
// path, and the process exits non-zero if the deadline passes.
export async function withBrowser(deadlineMs, work) {
    const browser = await launch(process.env.WHIPCODE_BROWSER_TAG);
    const timer = setTimeout(async () => {
        process.stderr.write(`the browser work took longer than ${deadlineMs} ms\n`);
        await browser.close().catch(() => {});
        process.exit(3);
    }, deadlineMs);
    try {
        return await work(browser);
    } finally {
        clearTimeout(timer);
        await browser.close();
    }
}
