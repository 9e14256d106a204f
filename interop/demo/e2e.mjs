// End-to-end test of `idem demo` ("Duplicate Fighter") in a real headless Chromium.
//
//   node e2e.mjs --url http://127.0.0.1:PORT --out DIR --chromium /usr/lib/chromium/chromium
//
// Clicks through the seed's story on the real page (every click is a real request to a real
// broker through a real fault proxy) and checks what the page shows against what the broker
// holds (GET /api/state). Prints one line per step and closes with "N passed, N failed";
// exits 1 on any failure. Screenshots of every step go to DIR.
import { chromium } from 'playwright-core';
import fs from 'node:fs';
import path from 'node:path';

// ---- arguments ---------------------------------------------------------------------------------
const opt = { url: '', out: 'target/demo-e2e', chromium: '/usr/lib/chromium/chromium' };
for (let i = 2; i < process.argv.length; i += 2) {
  const k = process.argv[i].replace(/^--/, '');
  if (!(k in opt) || process.argv[i + 1] === undefined) {
    console.error(`usage: node e2e.mjs --url URL [--out DIR] [--chromium PATH] (bad '${process.argv[i]}')`);
    process.exit(2);
  }
  opt[k] = process.argv[i + 1];
}
if (!opt.url) { console.error('--url is required'); process.exit(2); }
const BASE = opt.url.replace(/\/$/, '');
fs.mkdirSync(opt.out, { recursive: true });

// ---- the contract --------------------------------------------------------------------------------
const BUTTONS = {
  send: 'Send',
  'lose-ack': 'Lose the next acknowledgement',
  retry: 'Retry',
  skip: 'Skip a sequence',
  'restart-producer': 'Restart the producer',
  'bump-epoch': 'Bump the epoch',
  'crash-broker': 'Crash and restart the broker',
  reset: 'Start over',
};
// Timeline kinds that are the broker's verdict on one produce request.
const DECISIONS = new Set(['accepted', 'duplicate', 'out-of-order', 'fenced', 'appended', 'appended-again', 'error']);
const DECISION = '(any verdict)'; // for act(): wait for any verdict
const WAIT_MS = 10_000; // one action's effect must show within this
const CRASH_WAIT_MS = 30_000; // a broker crash and restart

// ---- small helpers -------------------------------------------------------------------------------
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const show = (v) => { const s = JSON.stringify(v); return s && s.length > 600 ? s.slice(0, 600) + '…' : s; };
class Failure extends Error {}
function check(cond, msg) { if (!cond) throw new Failure(msg); }
function eq(actual, expected, what) {
  check(JSON.stringify(actual) === JSON.stringify(expected), `${what}: expected ${show(expected)}, got ${show(actual)}`);
}
/** Polls fn until it returns a truthy value; throws with the last value seen. */
async function until(what, fn, timeout = WAIT_MS) {
  const t0 = Date.now();
  let last, err;
  for (;;) {
    try { last = await fn(); err = undefined; if (last) return last; } catch (e) { err = e; }
    if (Date.now() - t0 > timeout) {
      throw new Failure(`timed out after ${timeout} ms waiting for ${what}` +
        (err ? ` (last error: ${err.message})` : ` (last: ${show(last)})`));
    }
    await sleep(100);
  }
}
async function api(method, p, body) {
  const res = await fetch(BASE + p, {
    method,
    headers: body === undefined ? {} : { 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
    signal: AbortSignal.timeout(WAIT_MS),
  });
  check(res.ok, `${method} ${p} answered ${res.status}`);
  return res.headers.get('content-type')?.includes('json') ? res.json() : res.text();
}
const state = () => api('GET', '/api/state');
/** The broker's records of one partition, from /api/state: [{offset, value}]. */
async function apiRecords(partition = 0) {
  const s = await state();
  const p = s.broker.partitions.find((x) => x.partition === partition);
  return (p?.records ?? []).map((r) => ({ offset: r.offset, value: r.value }));
}

// A last resort under run.sh's own timeout: never leave a browser behind.
let browser;
const WATCHDOG_MS = 110_000;
setTimeout(async () => {
  console.log(`FAIL the test did not finish within ${WATCHDOG_MS / 1000} s`);
  try { await browser?.close(); } catch {}
  process.exit(1);
}, WATCHDOG_MS).unref();

// ---- the browser --------------------------------------------------------------------------------
browser = await chromium.launch({
  executablePath: opt.chromium,
  headless: true,
  timeout: 30_000,
  args: ['--no-sandbox', '--disable-dev-shm-usage'],
});
const context = await browser.newContext({ viewport: { width: 1440, height: 900 }, reducedMotion: 'reduce' });
context.setDefaultTimeout(WAIT_MS);
const page = await context.newPage();
const pageErrors = [];
const consoleErrors = [];
const navigations = [];
const streams = [];
page.on('pageerror', (e) => pageErrors.push(String(e)));
const badResponses = [];
page.on('console', (m) => {
  // A failed load is reported below with its address (and a missing favicon is no error).
  if (m.type() === 'error' && !m.text().startsWith('Failed to load resource')) consoleErrors.push(m.text());
});
page.on('requestfailed', (r) => { if (!/\/events$/.test(r.url())) badResponses.push(`${r.url()}: ${r.failure()?.errorText}`); });
page.on('framenavigated', (f) => { if (f === page.mainFrame()) navigations.push(f.url()); });
page.on('response', (r) => {
  if (r.status() >= 400 && new URL(r.url()).pathname !== '/favicon.ico') badResponses.push(`${r.request().method()} ${r.url()}: ${r.status()}`);
  if ((r.headers()['content-type'] || '').startsWith('text/event-stream')) streams.push({ url: r.url(), status: r.status() });
});

// Readers of what the page shows.
const timeline = () => page.$$eval('#timeline li', (els) =>
  els.map((e) => ({ kind: e.dataset.kind, text: e.textContent.replace(/\s+/g, ' ').trim() })));
const logRecords = (partition = 0) => page.$$eval(`#log-records li[data-partition="${partition}"]`, (els) =>
  els.map((e) => ({ offset: Number(e.dataset.offset), value: e.querySelector('.value')?.textContent ?? null })));
const text = (sel) => page.locator(sel).first().textContent({ timeout: WAIT_MS }).then((t) => t.trim());
const producer = async () => ({ id: await text('#producer-id'), epoch: await text('#producer-epoch') });
const brokerRow = (pid, partition = 0) => `#broker-producers tr[data-producer-id="${pid}"][data-partition="${partition}"]`;

/**
 * Does one thing on the page and waits until the timeline shows every kind in `kinds` among the
 * entries it added. Returns the new entries.
 */
async function act(what, doIt, kinds, timeout = WAIT_MS) {
  const before = (await timeline()).length;
  await doIt();
  let added = [];
  try {
    return await until(`${what} to add timeline entries ${kinds.join(', ')}`, async () => {
      added = (await timeline()).slice(before);
      const has = (k) => added.some((e) => (k === DECISION ? DECISIONS.has(e.kind) : e.kind === k));
      return kinds.every(has) && added;
    }, timeout).then(async (a) => { await settled(); return a; });
  } catch (e) {
    throw new Failure(`${e.message}; it added ${show(added)}; log of partition 0: ${show(await logRecords(0).catch(() => '?'))}`);
  }
}
/** Waits until no request is shown in flight in the network panel. */
const settled = () => until('no packet in flight', async () =>
  (await page.locator('#network .packet[data-status="in-flight"]').count()) === 0);
const click = (id) => page.locator(`#${id}`).click();
async function sendVia(message, partition = 0) {
  await page.locator('#message').fill(message);
  await page.locator('#partition').selectOption(String(partition));
  await click('send');
}
const newestDecision = (entries) => [...entries].reverse().find((e) => DECISIONS.has(e.kind));
/** Sends `message` on partition 0 and expects the verdict `kind`. Returns the new entries. */
async function sendExpect(message, kind, extra = []) {
  const added = await act(`Send "${message}"`, () => sendVia(message), [kind, ...extra]);
  eq(newestDecision(added)?.kind, kind, `verdict for "${message}"`);
  return added;
}
async function setIdempotence(on) {
  const box = page.locator('#idempotence');
  if ((await box.isChecked()) !== on) await box.click();
  await until(`the producer to have idempotence ${on ? 'on' : 'off'}`, async () => (await state()).producer.idempotence === on);
  check((await box.isChecked()) === on, `#idempotence checked should be ${on}`);
}
/** Start over: the log empties and the timeline starts anew (or notes the reset). */
async function startOver() {
  const before = await timeline();
  await click('reset');
  await until('Start over to empty the log and restart the timeline', async () => {
    const t = await timeline();
    const fresh = t[0]?.kind === 'reset' || t.at(-1)?.kind === 'reset' || (t.length === 0 && before.length > 0);
    return fresh && (await logRecords(0)).length === 0 && (await logRecords(1)).length === 0 &&
      (await apiRecords(0)).length === 0 && (await apiRecords(1)).length === 0 &&
      /^\d+$/.test(await text('#producer-id'));
  });
  await settled();
  check(await page.locator('#idempotence').isChecked(), 'Idempotence should be on again after Start over');
}
async function noHorizontalScroll(width, name = `01-open-${width}`) {
  await page.setViewportSize({ width, height: 900 });
  await page.evaluate(() => new Promise((r) => requestAnimationFrame(() => requestAnimationFrame(r))));
  const m = await page.evaluate(() => {
    const d = document.documentElement;
    const W = d.clientWidth + 1;
    const name = (e) => `${e.tagName.toLowerCase()}${e.id ? '#' + e.id : ''}` +
      (typeof e.className === 'string' && e.className ? '.' + e.className.trim().split(/\s+/).join('.') : '');
    // An element past the right edge is only fine inside its own scroll box (a wide table in
    // an overflow-x: auto wrapper that fits). overflow-x: hidden on <body> would merely cut
    // it off, so <body> and <html> do not count as such a box.
    const clippedInside = (e) => {
      for (let a = e.parentElement; a && a !== document.body && a !== d; a = a.parentElement) {
        if (getComputedStyle(a).overflowX !== 'visible') return a.getBoundingClientRect().right <= W;
      }
      return false;
    };
    const wide = [...document.querySelectorAll('body *')]
      .filter((e) => { const r = e.getBoundingClientRect(); return r.width > 0 && r.right > W && !clippedInside(e); })
      .map((e) => `${name(e)} (right edge ${Math.round(e.getBoundingClientRect().right)})`);
    return { scrollWidth: d.scrollWidth, clientWidth: d.clientWidth, bodyScroll: document.body.scrollWidth, wide };
  });
  await shot(name);
  check(m.scrollWidth <= m.clientWidth && m.bodyScroll <= m.clientWidth,
    `horizontal scroll at ${width} px: scrollWidth ${m.scrollWidth} (body ${m.bodyScroll}) > ${m.clientWidth}; too wide: ${m.wide.slice(0, 5).join(', ')}`);
  check(m.wide.length === 0, `at ${width} px ${m.wide.length} elements reach past the right edge of the page: ${m.wide.slice(0, 5).join(', ')}`);
}
/** The numbers of a numbered timeline must not be cut off by its own scroll box. */
async function timelineNumbersFit() {
  const m = await page.evaluate(() => {
    const ol = document.querySelector('#timeline');
    const li = ol?.lastElementChild;
    if (!li || ol.tagName !== 'OL') return null;
    const st = getComputedStyle(ol), ls = getComputedStyle(li);
    if (ls.listStyleType === 'none' || ls.listStylePosition !== 'outside' || st.overflowX === 'visible') return null;
    const ctx = document.createElement('canvas').getContext('2d');
    ctx.font = `${ls.fontWeight} ${ls.fontSize} ${ls.fontFamily}`;
    const label = `${ol.children.length}. `;
    return { label, need: Math.ceil(ctx.measureText(label).width), have: parseFloat(st.paddingLeft) + parseFloat(ls.marginLeft) };
  });
  check(!m || m.need <= m.have,
    `the timeline's numbers are cut off: "${m?.label.trim()}" needs ${m?.need} px, the list leaves ${m?.have} px for it`);
}
async function shot(name) {
  await page.screenshot({ path: path.join(opt.out, `${name}.png`), fullPage: true, timeout: WAIT_MS });
  shots.push(`${name}.png`);
}
const shots = [];

// ---- the story ------------------------------------------------------------------------------------
// Steps of one group depend on each other: after a failure the rest of its group is skipped.
const steps = [];
const step = (group, name, fn) => steps.push({ group, name, fn });
const story = {}; // values carried from step to step

step('open', 'open the page: accessible names, labels, no horizontal scroll at 375 and 1440 px', async () => {
  await page.goto(BASE + '/', { waitUntil: 'load', timeout: 20_000 });
  await page.evaluate(() => { window.__e2eNoReload = true; });
  // Record every status a network packet ever shows (packets may be animated and short-lived).
  await page.evaluate(() => {
    window.__packetStatuses = new Set();
    const note = () => document.querySelectorAll('#network .packet[data-status]')
      .forEach((p) => window.__packetStatuses.add(p.dataset.status));
    new MutationObserver(note).observe(document.body, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-status'] });
    note();
  });
  await until('the producer panel to show a producer id', async () => /^\d+$/.test(await text('#producer-id')));
  check(await page.evaluate(() => document.documentElement.lang !== ''), '<html> has no lang attribute');
  check((await page.title()).trim() !== '', 'the page has no <title>');
  // Every button has an accessible name (computed by Chromium's accessibility tree).
  const buttons = await page.getByRole('button').all();
  check(buttons.length >= Object.keys(BUTTONS).length, `only ${buttons.length} buttons in the accessibility tree`);
  for (const b of buttons) {
    const snap = await b.ariaSnapshot();
    const id = await b.getAttribute('id');
    check(/^- button "[^"]*\S[^"]*"/.test(snap), `button #${id} has no accessible name (${snap.split('\n')[0]})`);
  }
  const nonButtons = await page.$$eval('[onclick]:not(button):not(a):not(input)', (els) => els.map((e) => e.outerHTML.slice(0, 80)));
  eq(nonButtons, [], 'clickable elements that are not buttons');
  for (const [id, label] of Object.entries(BUTTONS)) {
    const b = page.getByRole('button', { name: label, exact: true });
    eq(await b.count(), 1, `buttons named "${label}"`);
    eq(await b.evaluate((e) => `${e.tagName.toLowerCase()}#${e.id}`), `button#${id}`, `the button named "${label}"`);
  }
  eq(await page.getByLabel('Message', { exact: true }).evaluate((e) => e.id), 'message', 'the field labelled Message');
  eq(await page.getByLabel('Partition', { exact: true }).evaluate((e) => `${e.tagName.toLowerCase()}#${e.id}`), 'select#partition', 'the field labelled Partition');
  eq(await page.$$eval('#partition option', (os) => os.map((o) => o.value)), ['0', '1'], 'partition options');
  const idem = page.getByRole('checkbox', { name: 'Idempotence', exact: true });
  eq(await idem.evaluate((e) => e.id), 'idempotence', 'the checkbox labelled Idempotence');
  check(await idem.isChecked(), 'Idempotence is not checked by default');
  // Every control can be reached with Tab alone.
  await page.evaluate(() => document.activeElement?.blur());
  const reached = new Set();
  for (let i = 0; i < 40; i++) {
    await page.keyboard.press('Tab');
    const id = await page.evaluate(() => document.activeElement?.id);
    if (id) reached.add(id);
  }
  const controls = [...Object.keys(BUTTONS), 'message', 'partition', 'idempotence'];
  eq(controls.filter((id) => !reached.has(id)), [], 'controls that Tab never reaches');
  await noHorizontalScroll(375);
  await noHorizontalScroll(1440);
  await page.emulateMedia({ colorScheme: 'dark' });
  await shot('01-open-1440-dark');
  await page.emulateMedia({ colorScheme: 'light' });
});

step('story', 'Send "A" (with the keyboard): accepted, the log holds one "A"', async () => {
  await page.locator('#message').fill('A');
  await page.locator('#partition').selectOption('0');
  // Reach Send with Tab from the message field and press Enter.
  await page.locator('#message').focus();
  const added = await act('Send "A" by keyboard', async () => {
    for (let i = 0; i < 40 && (await page.evaluate(() => document.activeElement?.id)) !== 'send'; i++) {
      await page.keyboard.press('Tab');
    }
    eq(await page.evaluate(() => document.activeElement?.id), 'send', 'focused element after tabbing from #message');
    const ring = await page.evaluate(() => {
      const st = getComputedStyle(document.activeElement);
      return { outline: `${st.outlineStyle} ${st.outlineWidth}`, shadow: st.boxShadow };
    });
    check(!/^none|\b0px$/.test(ring.outline) || ring.shadow !== 'none', `the focused Send button shows no focus ring: ${show(ring)}`);
    await page.keyboard.press('Enter');
  }, ['accepted']);
  eq(newestDecision(added).kind, 'accepted', 'verdict for "A"');
  const log = await until('"A" in the broker log on the page', async () => {
    const r = await logRecords(0);
    return r.some((x) => x.value === 'A') && r;
  });
  eq(log.map((r) => r.value), ['A'], 'log of partition 0 on the page');
  eq((await apiRecords(0)).map((r) => r.value), ['A'], 'log of partition 0 in /api/state');
  story.offsetA = log[0].offset;
  check(newestDecision(added).text.includes(`offset ${story.offsetA}`),
    `the accepted entry should name offset ${story.offsetA}: "${newestDecision(added).text}"`);
  story.pid = (await producer()).id;
  await until('the broker panel to show the producer on partition 0', () => page.locator(brokerRow(story.pid)).count());
  await until('a delivered packet in the network panel', () =>
    page.evaluate(() => window.__packetStatuses.has('delivered')), 5_000);
});

step('story', 'Lose the next acknowledgement, Send "B": the ack is lost, the log holds "B"', async () => {
  await click('lose-ack');
  const added = await act('Send "B" with its ack lost', () => sendVia('B'), ['lost']);
  const log = await until('"B" in the broker log on the page', async () => {
    const r = await logRecords(0);
    return r.some((x) => x.value === 'B') && r;
  });
  eq(log.map((r) => r.value), ['A', 'B'], 'log of partition 0 on the page');
  eq((await apiRecords(0)).map((r) => r.value), ['A', 'B'], 'log of partition 0 in /api/state');
  story.offsetB = log[1].offset;
  check(!added.some((e) => e.kind === 'duplicate'), `no duplicate verdict yet: ${show(added)}`);
  await until('a lost packet in the network panel', () => page.evaluate(() => window.__packetStatuses.has('lost')), 5_000);
});

step('story', 'Retry: a duplicate, answered with the original offset; one "B" in the log', async () => {
  const added = await act('Retry', () => click('retry'), ['duplicate']);
  const d = newestDecision(added);
  eq(d.kind, 'duplicate', 'newest verdict after Retry');
  check(/duplicate/i.test(d.text), `the duplicate entry should say "duplicate": "${d.text}"`);
  check(new RegExp(`\\b${story.offsetB}\\b`).test(d.text), `the duplicate entry should name the original offset ${story.offsetB}: "${d.text}"`);
  await sleep(300);
  eq((await logRecords(0)).map((r) => r.value), ['A', 'B'], 'log of partition 0 on the page after Retry');
  eq((await apiRecords(0)).map((r) => r.value), ['A', 'B'], 'log of partition 0 in /api/state after Retry');
  const window = await page.locator(`${brokerRow(story.pid)} .window li`).allTextContents();
  check(window.some((t) => new RegExp(`offset ${story.offsetB}\\b`).test(t)),
    `the dedupe window should list the batch at offset ${story.offsetB}: ${show(window)}`);
});

step('story', 'Skip a sequence: OUT_OF_ORDER_SEQUENCE_NUMBER, the log is unchanged', async () => {
  const before = await apiRecords(0);
  const added = await act('Skip a sequence', async () => {
    await page.locator('#message').fill('X');
    await click('skip');
  }, ['out-of-order']);
  const d = newestDecision(added);
  eq(d.kind, 'out-of-order', 'newest verdict after Skip a sequence');
  check(/OUT_OF_ORDER_SEQUENCE_NUMBER|out of order/i.test(d.text), `the entry should say out of order: "${d.text}"`);
  await sleep(300);
  eq(await apiRecords(0), before, 'log of partition 0 in /api/state after the skip');
  eq((await logRecords(0)).map((r) => r.value), before.map((r) => r.value), 'log of partition 0 on the page after the skip');
});

step('story', 'Crash and restart the broker: state kept, a Retry is still a duplicate', async () => {
  const row = brokerRow(story.pid);
  const lastSeq = await text(`${row} .last-seq`);
  const epoch = await text(`${row} .epoch`);
  const before = await apiRecords(0);
  await act('Crash and restart the broker', () => click('crash-broker'), ['crash', 'restart'], CRASH_WAIT_MS);
  await shot('06-crashed-restarted');
  await until(`the broker panel to show last seq ${lastSeq} again`, async () =>
    (await page.locator(`${row} .last-seq`).count()) === 1 && (await text(`${row} .last-seq`)) === lastSeq);
  eq(await text(`${row} .epoch`), epoch, 'epoch in the broker panel after the restart');
  eq(await apiRecords(0), before, 'log of partition 0 after the restart');
  const added = await act('Retry after the restart', () => click('retry'), ['duplicate']);
  eq(newestDecision(added).kind, 'duplicate', 'newest verdict for the Retry after the restart');
  await sleep(300);
  eq(await apiRecords(0), before, 'log of partition 0 after the Retry');
  await timelineNumbersFit();
});

step('idempotence-off', 'Start over with idempotence off: a lost ack and a Retry write "C" twice', async () => {
  await startOver();
  // Retry with nothing sent yet is explained, not a failure of the page.
  const nothing = await act('Retry with nothing sent', () => click('retry'), [DECISION]);
  eq(newestDecision(nothing).kind, 'error', `verdict for a Retry with nothing sent (${show(nothing)})`);
  // Toggle the checkbox with the keyboard (Space), the second keyboard action.
  await page.locator('#idempotence').focus();
  await page.keyboard.press('Space');
  await until('idempotence to be off', async () => (await state()).producer.idempotence === false);
  check(!(await page.locator('#idempotence').isChecked()), '#idempotence is still checked');
  const a = await act('Send "A"', () => sendVia('A'), [DECISION]);
  check(['accepted', 'appended'].includes(newestDecision(a).kind), `verdict for "A" without idempotence: ${show(a)}`);
  await click('lose-ack');
  await act('Send "C" with its ack lost', () => sendVia('C'), ['lost']);
  const added = await act('Retry', () => click('retry'), ['appended-again']);
  eq(newestDecision(added).kind, 'appended-again', 'newest verdict for the Retry without idempotence');
  const log = await until('two "C" in the log on the page', async () => {
    const r = await logRecords(0);
    return r.filter((x) => x.value === 'C').length === 2 && r;
  });
  eq(log.map((r) => r.value), ['A', 'C', 'C'], 'log of partition 0 on the page');
  eq((await apiRecords(0)).map((r) => r.value), ['A', 'C', 'C'], 'log of partition 0 in /api/state');
});

step('epoch', 'Bump the epoch, Restart the producer: new epoch / producer id, sends accepted', async () => {
  await startOver();
  await setIdempotence(true);
  await sendExpect('E', 'accepted');
  const p0 = await producer();
  await act('Bump the epoch', () => click('bump-epoch'), ['epoch-bump']);
  const p1 = await until('the producer panel to show a new epoch', async () => {
    const p = await producer();
    return (p.epoch !== p0.epoch || p.id !== p0.id) && p;
  });
  check(Number(p1.epoch) > Number(p0.epoch) || p1.id !== p0.id, `epoch should grow: ${show(p0)} → ${show(p1)}`);
  await shot('08-epoch-bumped');
  await sendExpect('F', 'accepted');
  eq((await state()).producer.epoch, Number(p1.epoch), 'epoch in /api/state');
  const s1 = await state();
  const ps1 = s1.broker.partitions.find((p) => p.partition === 0).producers.find((x) => String(x.producer_id) === p1.id);
  check(ps1 && String(ps1.epoch) === p1.epoch, `the broker should hold epoch ${p1.epoch} for producer ${p1.id}: ${show(ps1)}`);
  await act('Restart the producer', () => click('restart-producer'), ['producer-restart']);
  const p2 = await until('the producer panel to show a new producer id or epoch', async () => {
    const p = await producer();
    return (p.epoch !== p1.epoch || p.id !== p1.id) && p;
  });
  await sendExpect('G', 'accepted');
  eq((await logRecords(0)).map((r) => r.value), ['E', 'F', 'G'], 'log of partition 0 on the page');
  await until(`the broker panel to show producer ${p2.id}`, () => page.locator(brokerRow(p2.id)).count());
  story.producers = [p0, p1, p2];
});

step('stream', 'the event stream: a request from another client shows up without a reload', async () => {
  const s = streams.find((x) => new URL(x.url).pathname === '/events');
  check(s && s.status === 200, `the page should hold GET /events open as text/event-stream: ${show(streams)}`);
  const before = (await timeline()).length;
  await api('POST', '/api/send', { message: 'S', partition: 1 });
  await until('"S" on partition 1 in the log on the page', async () =>
    (await logRecords(1)).some((r) => r.value === 'S'));
  await until('a new timeline entry on the page', async () => (await timeline()).length > before);
  // A message is shown as text, never as markup.
  const html = '<img src="/e2e-xss.png" onerror="window.__xss=1"><b>bold</b>';
  await api('POST', '/api/send', { message: html, partition: 1 });
  await until('the markup message in the log on the page, as text', async () =>
    (await logRecords(1)).some((r) => r.value === html));
  await sleep(300);
  eq(await page.locator('#log-records img, #log-records b, #timeline img, #timeline b').count(), 0, 'elements made from a message');
  eq(await page.evaluate(() => window.__xss), undefined, 'window.__xss set by a message');
  check(await page.evaluate(() => window.__e2eNoReload === true), 'the page was reloaded');
  eq(navigations.length, 1, `main-frame navigations (${show(navigations)})`);
  eq(pageErrors, [], 'uncaught errors on the page');
  eq(consoleErrors, [], 'console errors on the page');
  eq(badResponses, [], 'failed requests from the page');
});

step('stream', 'a full page at 375 px: long values wrap, nothing reaches past the right edge', async () => {
  const long = 'x'.repeat(200); // the longest message the demo takes, without a place to break
  await api('POST', '/api/send', { message: long, partition: 1 });
  await until('the 200-character message in the log on the page', async () =>
    (await logRecords(1)).some((r) => r.value === long));
  await settled();
  try {
    await noHorizontalScroll(375, '10-full-page-375');
    await timelineNumbersFit();
  } finally {
    await page.setViewportSize({ width: 1440, height: 900 });
  }
});

// ---- run ------------------------------------------------------------------------------------------
let passed = 0, failed = 0, skipped = 0;
const failedGroups = new Set();
const t0 = Date.now();
for (const [i, s] of steps.entries()) {
  const n = String(i + 1).padStart(2, '0');
  const slug = s.name.split(':')[0].toLowerCase().replace(/[^a-z0-9]+/g, '-').replace(/^-|-$/g, '').slice(0, 40);
  if (failedGroups.has(s.group)) {
    skipped++;
    console.log(`skip ${n} ${s.name} (an earlier step of "${s.group}" failed)`);
    continue;
  }
  const ts = Date.now();
  try {
    await s.fn();
    await shot(`${n}-${slug}`);
    passed++;
    console.log(`ok   ${n} ${s.name} (${Date.now() - ts} ms)`);
  } catch (e) {
    failed++;
    failedGroups.add(s.group);
    console.log(`FAIL ${n} ${s.name} (${Date.now() - ts} ms)\n     ${e instanceof Failure ? e.message : e.stack}`);
    try { await shot(`${n}-${slug}-FAILED`); } catch {}
    try {
      fs.writeFileSync(path.join(opt.out, `${n}-state-FAILED.json`), JSON.stringify(await state(), null, 2));
    } catch {}
  }
}
await browser.close();
console.log(`screenshots (${shots.length}) in ${opt.out}: ${shots.join(' ')}`);
console.log(`time: ${((Date.now() - t0) / 1000).toFixed(1)} s`);
console.log(`demo-e2e: ${passed} passed, ${failed} failed${skipped ? `, ${skipped} skipped` : ''}`);
process.exit(failed || skipped ? 1 : 0);
