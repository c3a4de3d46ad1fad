#!/usr/bin/env node
// Renders a Chrome trace in the real Chrome DevTools Performance panel (the
// one bundled with Debian's chromium, served by its remote-debugging port),
// headless, and saves a screenshot: how docs/trace-demo.png was made.
// Not part of the test suite (it needs /usr/bin/chromium and a few seconds).
//
//   npm run build && node dist/src/cli/main.js demo -w 2 -d 0.3 --trace /tmp/demo.json
//   node scripts/trace-screenshot.mjs /tmp/demo.json docs/trace-demo.png [--at MS] [--span MS]
//
// --at and --span pick the time window (ms from the start of the trace) by
// dragging in the overview, as a person would; default: the first window of
// --span ms (default 1) where every thread has finished a short span.
// Needs a global WebSocket: Node 22+, or Node 20 with --experimental-websocket.
import { spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';

const args = process.argv.slice(2);
const opt = (name, dflt) => {
  const i = args.indexOf(name);
  return i < 0 ? dflt : Number(args.splice(i, 2)[1]);
};
const spanMs = opt('--span', 1);
let atMs = opt('--at', NaN);
const [tracePath, outPath] = args;
if (!tracePath || !outPath) {
  console.error('usage: node scripts/trace-screenshot.mjs TRACE.json OUT.png [--at MS] [--span MS]');
  process.exit(2);
}
if (typeof WebSocket === 'undefined') {
  console.error('needs a global WebSocket: Node 22+, or node --experimental-websocket');
  process.exit(2);
}
const CHROMIUM = process.env.CHROMIUM ?? '/usr/bin/chromium';
const W = 1600;
const H = 1000;
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

// The trace's time range, as the overview draws it, and a window worth looking at.
// (Counter samples do not count: the panel's bounds come from the other events.)
const events = JSON.parse(readFileSync(tracePath, 'utf8')).traceEvents.filter((e) => e.ph !== 'M' && e.ph !== 'C');
const t0 = Math.min(...events.map((e) => e.ts));
const t1 = Math.max(...events.map((e) => e.ts + (e.dur ?? 0)));
if (Number.isNaN(atMs)) atMs = busyWindow(events, t0, spanMs * 1000) / 1000;

const profile = mkdtempSync(join(tmpdir(), 'trace-shot-'));
const browser = spawn(CHROMIUM, [
  '--headless', '--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run', '--disable-background-networking',
  '--disable-component-update', '--disable-sync', `--user-data-dir=${profile}`, `--window-size=${W},${H}`,
  '--remote-debugging-port=0', 'about:blank',
], { stdio: 'ignore' });
try {
  const port = await devtoolsPort(profile);
  const page = (await (await fetch(`http://127.0.0.1:${port}/json/list`)).json()).find((t) => t.type === 'page');
  const cdp = await connect(page.webSocketDebuggerUrl);
  await cdp.send('Emulation.setDeviceMetricsOverride', { width: W, height: H, deviceScaleFactor: 1, mobile: false });
  await cdp.send('Page.navigate', { url: `http://127.0.0.1:${port}/devtools/devtools_app.html?panel=timeline` });
  await sleep(6000); // DevTools answers DOM searches only once its frontend has started
  const input = await until(() => find(cdp, 'input[type="file"]'), 'the Performance panel', 20_000).catch(async (err) => {
    const shot = await cdp.send('Page.captureScreenshot', { format: 'png' });
    writeFileSync(`${outPath}.failed.png`, Buffer.from(shot.data, 'base64'));
    throw err;
  });
  await cdp.send('DOM.setFileInputFiles', { files: [resolve(tracePath)], nodeId: input });
  await sleep(8000); // parsing and first paint; the panel shows no sign of being done that a search can see
  await click(cdp, 1571, 77); // close the first-run shortcuts dialog (if not there: a click the window selection below replaces)
  await click(cdp, 249, 129); // expand the process
  await click(cdp, 16, 39); // close the sidebar
  await click(cdp, 20, 167); // expand the second thread, then the first
  await click(cdp, 20, 145);
  // Select the window in the overview strip: x is proportional to time over the whole trace.
  const x = (ms) => Math.round(((ms * 1000) / (t1 - t0)) * W);
  await drag(cdp, x(atMs), x(atMs + spanMs), 72);
  await sleep(1500);
  const shot = await cdp.send('Page.captureScreenshot', { format: 'png' });
  writeFileSync(outPath, Buffer.from(shot.data, 'base64'));
  console.log(`${outPath}: ${tracePath} from ${atMs.toFixed(2)} ms, ${spanMs} ms wide`);
  cdp.close();
} finally {
  browser.kill();
  await new Promise((r) => browser.once('exit', r));
  rmSync(profile, { recursive: true, force: true });
}

/** Start of the first window where every thread has a complete span shorter than a tenth of the window. */
function busyWindow(evs, start, width) {
  const tids = new Set(evs.filter((e) => e.ph === 'X').map((e) => e.tid));
  const bins = new Map();
  for (const e of evs) {
    if (e.ph !== 'X' || e.dur > width / 10) continue;
    const b = Math.floor((e.ts - start) / width);
    if (!bins.has(b)) bins.set(b, new Set());
    bins.get(b).add(e.tid);
  }
  const full = [...bins].filter(([, s]) => s.size === tids.size).map(([b]) => b).sort((a, b) => a - b);
  return (full[0] ?? 0) * width;
}

async function devtoolsPort(dir) {
  const file = join(dir, 'DevToolsActivePort');
  await until(async () => existsSync(file) && readFileSync(file, 'utf8').includes('\n'), 'chromium to start');
  return Number(readFileSync(file, 'utf8').split('\n')[0]);
}

async function until(fn, what, deadlineMs = 60_000) {
  const end = Date.now() + deadlineMs;
  for (;;) {
    const v = await fn();
    if (v) return v;
    if (Date.now() > end) throw new Error(`gave up waiting for ${what}`);
    await sleep(250);
  }
}

async function connect(url) {
  const ws = new WebSocket(url);
  await new Promise((r, j) => (ws.addEventListener('open', r), ws.addEventListener('error', j)));
  let id = 0;
  const pending = new Map();
  ws.addEventListener('message', (e) => {
    const m = JSON.parse(e.data);
    if (m.id && pending.has(m.id)) {
      const { res, rej } = pending.get(m.id);
      pending.delete(m.id);
      m.error ? rej(new Error(`${m.error.message}`)) : res(m.result);
    }
  });
  return {
    send: (method, params = {}) => new Promise((res, rej) => {
    close: () => ws.close(),
  };
}

/** A node id for a selector or text, searching shadow roots too; 0 when none. */
async function find(cdp, query) {
  await cdp.send('DOM.getDocument', { depth: -1, pierce: true });
  const s = await cdp.send('DOM.performSearch', { query, includeUserAgentShadowDOM: true });
  if (!s.resultCount) return 0;
  const r = await cdp.send('DOM.getSearchResults', { searchId: s.searchId, fromIndex: 0, toIndex: s.resultCount });
  return r.nodeIds[0] ?? 0;
}

async function click(cdp, x, y) {
  await cdp.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x, y });
  for (const type of ['mousePressed', 'mouseReleased']) await cdp.send('Input.dispatchMouseEvent', { type, x, y, button: 'left', clickCount: 1 });
  await sleep(500);
}

async function drag(cdp, x1, x2, y) {
  await cdp.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x: x1, y });
  await cdp.send('Input.dispatchMouseEvent', { type: 'mousePressed', x: x1, y, button: 'left', clickCount: 1 });
  for (let i = 1; i <= 5; i++) await cdp.send('Input.dispatchMouseEvent', { type: 'mouseMoved', x: x1 + ((x2 - x1) * i) / 5, y, button: 'left', buttons: 1 });
  await cdp.send('Input.dispatchMouseEvent', { type: 'mouseReleased', x: x2, y, button: 'left', clickCount: 1 });
}

async function key(cdp, k, code, vk) {
  for (const type of ['keyDown', 'keyUp']) await cdp.send('Input.dispatchKeyEvent', { type, key: k, code, windowsVirtualKeyCode: vk });
  await sleep(300);
}
