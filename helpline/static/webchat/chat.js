// Web chat page. No inline script or style anywhere (the Content-Security-Policy
// forbids them); messages go on the page with textContent only, never as HTML.
// Nothing is kept in the browser (no web storage of any kind); the only
// state is the HttpOnly cookie the server sets, which this script cannot read.
"use strict";

(function () {
  const body = document.body;
  const $ = (id) => document.getElementById(id);
  const T = body.dataset;
  const exitUrl = T.exitUrl;
  const language = T.language;
  const powBits = parseInt(T.powBits || "0", 10);
  // "/chat" for the default helpline's page, "/chat/<slug>" for another's.
  const base = T.base || "/chat";

  // --- Quick exit: first, so it works even if anything below fails. -------
  function quickExit() {
    // replace(): the chat's entry in the tab's history becomes the neutral
    // site, so Back does not return here.
    body.replaceChildren();
    window.location.replace(exitUrl);
  }
  $("quick-exit").addEventListener("click", quickExit);
  document.addEventListener("keydown", function (ev) {
    if (ev.key === "Escape") quickExit();
  });

  document.querySelectorAll("button.lang").forEach(function (button) {
    button.addEventListener("click", function () {
      // replace(), not a link: a language change adds no history entry either.
      window.location.replace(base + "?lang=" + encodeURIComponent(button.dataset.lang));
    });
  });

  let active = false;
  let transcript = [];
  let pushed = [];   // replies pushed by the stream, not yet read back
  let pending = [];  // what the visitor sent, not yet read back
  let source = null;
  let poller = null;
  let streamReady = false;
  let fetching = false;
  let again = false;
  let seq = 0;
  const pageId = Math.random().toString(36).slice(2, 10);

  function setStatus(text) { $("status").textContent = text || ""; }

  function item(m) {
    const li = document.createElement("li");
    li.className = "msg " + (m.direction === "in" ? "mine" : "theirs") + (m.pending ? " pending" : "");
    const who = document.createElement("span");
    who.className = "who";
    who.textContent = m.direction === "in" ? T.tYou : T.tHelpline;
    li.appendChild(who);
    const text = document.createElement("p");
    text.className = "text";
    text.textContent = m.body;
    li.appendChild(text);
    if (m.at) {
      const time = document.createElement("time");
      time.dateTime = m.at;
      time.textContent = new Date(m.at).toLocaleTimeString(language, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
      li.appendChild(time);
    }
    return li;
  }

  function render() {
    const refs = new Set(transcript.map((m) => m.ref));
    pushed = pushed.filter((m) => !refs.has(m.ref));
    const ins = transcript.filter((m) => m.direction === "in").map((m) => m.body);
    pending = pending.filter(function (p) {
      const at = ins.indexOf(p.body);
      if (at >= 0) { ins.splice(at, 1); return false; }
      return true;
    });
    const all = transcript.concat(pushed, pending);
    const log = $("log");
    const atBottom = log.scrollHeight - log.scrollTop - log.clientHeight < 40;
    log.replaceChildren.apply(log, all.map(item));
    if (atBottom) log.scrollTop = log.scrollHeight;
    const choices = $("choices");
    choices.replaceChildren();
    const last = all[all.length - 1];
    if (last && last.direction === "out" && last.buttons && last.buttons.length) {
      last.buttons.forEach(function (b) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "choice";
        button.textContent = b.title;
        button.addEventListener("click", function () { send(b.title, b.id); });
        choices.appendChild(button);
      });
    }
  }

  async function refresh() {
    if (fetching) { again = true; return; }
    fetching = true;
    try {
      const response = await fetch(base + "/api/messages", { credentials: "same-origin", cache: "no-store" });
      if (response.ok) {
        const data = await response.json();
        transcript = data.messages;
        if (data.active && !active) { active = true; listen(); }
        // Not active yet right after the first message is normal: it is still
        // in the inbox. Keep listening; the stream says when it is stored.
        render();
      }
    } catch (e) {
      setStatus(T.tOffline);
    } finally {
      fetching = false;
      if (again) { again = false; refresh(); }
    }
  }

  // --- Live replies: server-sent events, polling when they are blocked. ---
  function startPolling() {
    if (!poller) poller = window.setInterval(refresh, 3000);
  }

  function stopListening() {
    if (source) { source.close(); source = null; }
    if (poller) { window.clearInterval(poller); poller = null; }
  }

  function listen() {
    if (source || typeof window.EventSource !== "function") { startPolling(); return; }
    streamReady = false;
    source = new EventSource(base + "/api/events");
    source.addEventListener("ready", function () {
      streamReady = true;
      setStatus("");
      if (poller) { window.clearInterval(poller); poller = null; }
      refresh();
    });
    source.addEventListener("message", function (ev) {
      let m = null;
      try { m = JSON.parse(ev.data); } catch (e) { return; }
      if (!transcript.some((t) => t.ref === m.ref) && !pushed.some((p) => p.ref === m.ref)) {
        pushed.push(m);
        render();
      }
    });
    source.addEventListener("update", refresh);
    source.addEventListener("error", function () {
      // A proxy or filter that blocks the stream: read by polling meanwhile;
      // EventSource keeps retrying on its own.
      streamReady = false;
      startPolling();
    });
    // No "ready" in a few seconds (a buffering proxy): poll as well.
    window.setTimeout(function () { if (!streamReady) startPolling(); }, 4000);
  }

  // --- Proof of work before the first message (when the line asks for it).
  async function solve() {
    const response = await fetch(base + "/api/challenge", { credentials: "same-origin" });
    const data = await response.json();
    if (!data.challenge) return {};
    const encoder = new TextEncoder();
    for (let counter = 0; counter < 50000000; counter++) {
      const digest = new Uint8Array(await window.crypto.subtle.digest(
        "SHA-256", encoder.encode(data.challenge + ":" + counter)));
      let bits = 0;
      for (const byte of digest) {
        if (byte === 0) { bits += 8; continue; }
        bits += Math.clz32(byte) - 24;
        break;
      }
      if (bits >= data.bits) return { challenge: data.challenge, counter: String(counter) };
    }
    return {};
  }

  async function send(text, choice) {
    seq += 1;
    const message = { id: "c-" + pageId + "-" + seq, language: language };
    if (text) message.text = text;
    if (choice) message.choice = choice;
    try {
      if (!active && powBits > 0) {
        setStatus(T.tChecking);
        Object.assign(message, await solve());
      }
      const response = await fetch(base + "/api/messages", {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-Helpline-Chat": "1" },
        body: JSON.stringify(message),
      });
      if (response.status === 202) {
        setStatus("");
        pending.push({ ref: message.id, direction: "in", body: text, pending: true,
                       at: new Date().toISOString() });
        render();
        if (!active) { active = true; listen(); }
        return true;
      }
      let error = T.tNotSent;
      try { error = (await response.json()).error || error; } catch (e) { /* keep */ }
      setStatus(error);
    } catch (e) {
      setStatus(T.tOffline);
    }
    return false;
  }

  $("compose").addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const field = $("text");
    const text = field.value.trim();
    if (!text) return;
    $("send").disabled = true;
    if (await send(text, null)) field.value = "";
    $("send").disabled = false;
    field.focus();
  });

  $("text").addEventListener("keydown", function (ev) {
    if (ev.key === "Enter" && !ev.shiftKey) {
      ev.preventDefault();
      $("compose").requestSubmit();
    }
  });

  $("delete").addEventListener("click", async function () {
    if (!window.confirm(T.tDeleteConfirm)) return;
    try {
      const response = await fetch(base + "/api/delete", {
        method: "POST", credentials: "same-origin", headers: { "X-Helpline-Chat": "1" },
      });
      if (!response.ok) { setStatus(T.tNotSent); return; }
    } catch (e) { setStatus(T.tOffline); return; }
    stopListening();
    active = false;
    transcript = []; pushed = []; pending = [];
    render();
    setStatus(T.tDeleted);
  });

  refresh();
})();
