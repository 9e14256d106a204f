"use strict";
// The page renders whatever state the server sends on /events (the whole state after every
// change) and posts each button to /api/<action>. No framework, no build step.

const $ = (s) => document.querySelector(s);
const el = (tag, attrs = {}, ...kids) => {
  const e = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, v);
  for (const k of kids) e.append(k);
  return e;
};

const LABELS = {
  accepted: "accepted", duplicate: "duplicate", "out-of-order": "out of order", fenced: "fenced",
  lost: "ack lost", appended: "appended", "appended-again": "appended again", crash: "crash",
  restart: "restart", "producer-restart": "new producer", "epoch-bump": "epoch bump",
  reset: "start", setting: "setting", error: "error",
};

let lastTimelineId = 0;

function render(state) {
  const p = state.producer;
  $("#producer-id").textContent = p.producer_id;
  $("#producer-epoch").textContent = p.epoch;
  $("#idempotence").checked = p.idempotence;
  $("#next-seq tbody").replaceChildren(...Object.entries(p.next_seq).map(([part, seq]) =>
    el("tr", { "data-partition": part }, el("td", {}, part), el("td", { class: "next-seq" }, String(seq)))));
  $("#last-batch").textContent = p.last_batch ?? "none";
  $("#lose-state").textContent = p.lose_next_ack ? "Armed: the next Produce response will be dropped by the proxy." : "";

  const status = $("#broker-status");
  status.textContent = state.broker_status;
  status.classList.toggle("down", state.broker_status !== "up");
  $("#topic-name").textContent = state.topic ? `(${state.topic})` : "";

  const packets = state.packets.slice(-6).reverse();
  $("#packets").replaceChildren(...packets.map((k) =>
    el("li", { class: "packet", "data-status": k.status },
      el("span", { class: "label" }, k.label),
      el("span", { class: "answer" }, k.status === "in-flight" ? "in flight…" : `${k.status === "lost" ? "lost: " : "← "}${k.answer ?? ""}`))));

  const rows = [];
  const records = [];
  for (const part of state.broker?.partitions ?? []) {
    for (const pr of part.producers) {
      rows.push(el("tr", { "data-producer-id": pr.producer_id, "data-partition": part.partition },
        el("td", { class: "num" }, String(pr.producer_id)),
        el("td", { class: "num" }, String(part.partition)),
        el("td", { class: "epoch" }, String(pr.epoch)),
        el("td", { class: "last-seq" }, String(pr.last_seq)),
        el("td", {}, el("ul", { class: "window" }, ...pr.batches.map((b) =>
          el("li", {}, `seq ${b.first_seq}–${b.last_seq} → offset ${b.first_offset}`))))));
    }
    const seen = new Map();
    for (const r of part.records) {
      const n = (seen.get(r.value) ?? 0) + 1;
      seen.set(r.value, n);
      const meta = r.producer_id >= 0 ? ` pid ${r.producer_id} e${r.epoch} seq ${r.sequence}` : " no producer id";
      records.push(el("li", { "data-partition": part.partition, "data-offset": r.offset, class: n > 1 ? "repeat" : "" },
        `p${part.partition} @${r.offset}: `, el("span", { class: "value" }, r.value ?? "null"),
        el("span", { class: "meta" }, meta + (n > 1 ? " — stored again" : ""))));
    }
  }
  $("#broker-producers tbody").replaceChildren(...(rows.length ? rows : [el("tr", {}, el("td", { colspan: "5", class: "muted" }, "nothing remembered yet"))]));
  $("#log-records").replaceChildren(...(records.length ? records : [el("li", { class: "muted" }, "empty")]));

  const tl = $("#timeline");
  const newest = state.timeline.at(-1)?.id ?? 0;
  if (newest !== lastTimelineId) {
    tl.replaceChildren(...state.timeline.map((e) =>
      el("li", { "data-kind": e.kind }, el("span", { class: "kind" }, LABELS[e.kind] ?? e.kind), e.text)));
    tl.scrollTop = tl.scrollHeight;
    // Screen readers hear the newest decision only, not the whole list again.
    const last = state.timeline.at(-1);
    if (last && lastTimelineId !== 0) $("#announce").textContent = `${LABELS[last.kind] ?? last.kind}: ${last.text}`;
    lastTimelineId = newest;
  }
}

async function act(action, body) {
  document.body.classList.add("busy");
  try {
    const r = await fetch(`/api/${action}`, {
      method: "POST",
      headers: { "Content-Type": "application/json" },
      body: JSON.stringify(body ?? {}),
    });
    if (r.ok) {
      $("#connection").textContent = "live";
    } else {
      const e = await r.json().catch(() => ({}));
      $("#connection").textContent = `error: ${e.error ?? r.status}`;
    }
  } catch (e) {
    $("#connection").textContent = `error: ${e.message}`;
  } finally {
    document.body.classList.remove("busy");
  }
}

const messageBody = () => ({ message: $("#message").value, partition: Number($("#partition").value) });

$("#send-form").addEventListener("submit", (e) => { e.preventDefault(); act("send", messageBody()); });
$("#retry").addEventListener("click", () => act("retry"));
$("#skip").addEventListener("click", () => act("skip", messageBody()));
$("#lose-ack").addEventListener("click", () => act("lose-ack"));
$("#bump-epoch").addEventListener("click", () => act("bump-epoch"));
$("#restart-producer").addEventListener("click", () => act("restart-producer"));
$("#crash-broker").addEventListener("click", () => act("crash-broker"));
$("#reset").addEventListener("click", () => act("reset"));
$("#idempotence").addEventListener("change", (e) => act("idempotence", { on: e.target.checked }));

function connect() {
  const es = new EventSource("/events");
  es.onopen = () => { $("#connection").textContent = "live"; };
  es.onmessage = (m) => render(JSON.parse(m.data));
  es.onerror = () => { $("#connection").textContent = "reconnecting…"; };
}
connect();
