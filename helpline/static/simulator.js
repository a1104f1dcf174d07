// Helpline simulator: the browser plays a texter's phone.
// No inline script or style anywhere (the Content-Security-Policy forbids them);
// messages are put on the page with textContent only, never as HTML.
"use strict";

(function () {
  const store = window.localStorage;
  const KEY = "helpline.simulator";
  const $ = (id) => document.getElementById(id);
  // The page's texts, in its language (an attribute: no inline script at all).
  const T = JSON.parse(document.body.dataset.strings || "{}");
  const LANG = document.body.dataset.lang === "en" ? "en-GB" : "nl-NL";

  function newSession() {
    const bytes = new Uint8Array(16);
    window.crypto.getRandomValues(bytes);
    let s = btoa(String.fromCharCode.apply(null, Array.from(bytes)));
    return s.replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  }

  function load() {
    try {
      const state = JSON.parse(store.getItem(KEY) || "{}");
      if (state && typeof state === "object") return state;
    } catch (e) { /* start over */ }
    return {};
  }

  const state = Object.assign({ look: "whatsapp", mode: "chat", seq: 0 }, load());
  if (!state.session) state.session = newSession();
  function save() { store.setItem(KEY, JSON.stringify(state)); }
  save();

  let source = null;
  let poller = null;
  let busy = false;
  let lastCount = -1;

  function practice() { return state.mode === "practice" && state.practice ? state.practice : null; }
  function currentSession() { const p = practice(); return p ? p.session : state.session; }
  function isPractice() { return practice() !== null; }

  function setStatus(text) { $("status").textContent = text || ""; }

  // Which helpline's number the texter writes to (several in one installation):
  // every call names it; without a choice on the page, the default helpline.
  function helplineInput() {
    return document.querySelector("input[name=helpline]:checked");
  }
  function helplineQuery(first) {
    const input = helplineInput();
    return input ? (first ? "?" : "&") + "helpline=" + encodeURIComponent(input.value) : "";
  }

  async function post(text, choice) {
    state.seq += 1;
    save();
    const body = { session: currentSession(), id: "m-" + state.seq, practice: isPractice() };
    if (text) body.text = text;
    if (choice) body.choice = choice;
    const response = await fetch("/simulator/api/messages" + helplineQuery(true), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Simulator": "1" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok) { setStatus(T.not_sent + " (" + response.status + ")"); return; }
    setStatus("");
    refresh();
  }

  // A photo or voice note goes as base64 in JSON to /simulator/api/media; the
  // helpline then fetches, cleans and seals it exactly as a WhatsApp photo.
  async function postMedia(kind, blob) {
    const buffer = await blob.arrayBuffer();
    const bytes = new Uint8Array(buffer);
    let binary = "";
    for (let i = 0; i < bytes.length; i += 0x8000) {
      binary += String.fromCharCode.apply(null, Array.from(bytes.subarray(i, i + 0x8000)));
    }
    state.seq += 1;
    save();
    const body = { session: currentSession(), id: "m-" + state.seq, practice: isPractice(),
                   media_kind: kind, media: btoa(binary) };
    const response = await fetch("/simulator/api/media" + helplineQuery(true), {
      method: "POST",
      headers: { "Content-Type": "application/json", "X-Simulator": "1" },
      body: JSON.stringify(body),
      credentials: "same-origin",
    });
    if (!response.ok) { setStatus("Not sent (" + response.status + ")"); return; }
    setStatus("");
    refresh();
  }

  function fileSender(inputId, kind) {
    const input = $(inputId);
    if (!input) return;
    input.addEventListener("change", function () {
      const file = input.files && input.files[0];
      if (file) postMedia(kind, file);
      input.value = "";
    });
  }

  let recorder = null;
  function recordButton() {
    const button = $("record");
    if (!button) return;
    if (!window.MediaRecorder || !navigator.mediaDevices) { button.hidden = true; return; }
    button.addEventListener("click", async function () {
      if (recorder) { recorder.stop(); return; }
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (e) { setStatus("No microphone"); return; }
      const chunks = [];
      recorder = new MediaRecorder(stream);
      recorder.addEventListener("dataavailable", function (ev) { chunks.push(ev.data); });
      recorder.addEventListener("stop", function () {
        stream.getTracks().forEach(function (t) { t.stop(); });
        recorder = null;
        button.textContent = "Record voice note";
        button.setAttribute("aria-pressed", "false");
        postMedia("audio", new Blob(chunks, { type: chunks.length ? chunks[0].type : "" }));
      });
      recorder.start();
      button.textContent = "Stop and send";
      button.setAttribute("aria-pressed", "true");
    });
  }
  fileSender("photo", "image");
  fileSender("voice-file", "audio");
  recordButton();

  function bubble(message) {
    const li = document.createElement("li");
    li.className = "bubble " + (message.direction === "in" ? "mine" : "theirs") + " by-" + message.author;
    if (message.direction === "out") {
      const who = document.createElement("span");
      who.className = "bubble-author";
      who.textContent = message.author === "bot" ? T.by_bot : T.by_volunteer;
      li.appendChild(who);
    }
    const text = document.createElement("span");
    text.className = "bubble-text";
    text.textContent = message.body;
    li.appendChild(text);
    const time = document.createElement("time");
    time.className = "bubble-time";
    const at = new Date(message.at);
    time.dateTime = message.at;
    // 24-hour clock in both languages, like the console.
    time.textContent = at.toLocaleTimeString(LANG, { hour: "2-digit", minute: "2-digit", hourCycle: "h23" });
    li.appendChild(time);
    return li;
  }

  function render(data) {
    const chat = $("chat");
    chat.replaceChildren.apply(chat, data.messages.map(bubble));
    const quick = $("quick");
    quick.replaceChildren();
    const last = data.messages[data.messages.length - 1];
    if (last && last.direction === "out" && last.buttons.length) {
      for (const b of last.buttons) {
        const button = document.createElement("button");
        button.type = "button";
        button.className = "quick";
        button.textContent = b.title;
        button.addEventListener("click", () => post(b.title, b.id));
        quick.appendChild(button);
      }
    }
    $("phone-sub").textContent = data.pseudonym
      ? (data.practice ? T.practice_texter : T.in_console_as) + " " + data.pseudonym
      : T.simulator;
    if (data.messages.length !== lastCount) {
      lastCount = data.messages.length;
      chat.scrollTop = chat.scrollHeight;
    }
    advancePractice(data);
  }

  async function refresh() {
    if (busy) return;
    busy = true;
    try {
      const response = await fetch("/simulator/api/messages?practice=" + (isPractice() ? "1" : "0") + helplineQuery(false), {
        headers: { "X-Simulator-Session": currentSession() },
        credentials: "same-origin",
      });
      if (response.ok) render(await response.json());
    } catch (e) {
      setStatus(T.offline);
    } finally {
      busy = false;
    }
  }

  function listen() {
    if (source) source.close();
    const url = "/simulator/api/events?practice=" + (isPractice() ? "1" : "0") +
      "&session=" + encodeURIComponent(currentSession()) + helplineQuery(false);
    source = new EventSource(url);
    source.addEventListener("update", refresh);
    source.addEventListener("open", refresh);
    // A safety net when a proxy buffers the event stream.
    if (poller) clearInterval(poller);
    poller = setInterval(refresh, 5000);
  }

  // --- Practice mode ---------------------------------------------------------
  let scripts = [];
  let advanceTimer = null;

  function lines() {
    const p = practice();
    if (!p) return [];
    const script = scripts.find((s) => s.id === p.script);
    return script ? (script.lines[p.lang] || script.lines.en || []) : [];
  }

  function showProgress() {
    const p = practice();
    const all = lines();
    $("next-line").disabled = !p || p.next >= all.length;
    $("practice-progress").textContent = p
      ? T.line_of.replace("{n}", String(Math.min(p.next, all.length))).replace("{total}", String(all.length))
      : T.choose_script;
  }

  function sendNextLine() {
    const p = practice();
    const all = lines();
    if (!p || p.next >= all.length) return;
    const text = all[p.next];
    p.next += 1;
    save();
    showProgress();
    post(text, null);
  }

  function advancePractice(data) {
    const p = practice();
    if (!p) return;
    const last = data.messages[data.messages.length - 1];
    if (last && last.author === "volunteer" && p.answered !== last.id && p.next < lines().length) {
      p.answered = last.id;
      save();
      if (advanceTimer) clearTimeout(advanceTimer);
      advanceTimer = setTimeout(sendNextLine, 2500);
    }
  }

  function startPractice(id) {
    state.practice = { session: newSession(), script: id, lang: $("practice-lang").value, next: 0 };
    save();
    lastCount = -1;
    listen();
    sendNextLine();
  }

  // --- Controls --------------------------------------------------------------
  function applyLook() {
    const phone = $("phone");
    phone.classList.toggle("look-whatsapp", state.look !== "signal");
    phone.classList.toggle("look-signal", state.look === "signal");
    for (const input of document.querySelectorAll("input[name=look]")) input.checked = input.value === state.look;
    applyHelpline();
  }

  function applyHelpline() {
    const input = helplineInput();
    if (!input) return;
    for (const other of document.querySelectorAll("input[name=helpline]")) other.checked = other.value === input.value;
    $("phone-name").textContent = input.dataset.name;
    const number = state.look === "signal" ? input.dataset.signal : input.dataset.whatsapp;
    $("number").textContent = number
      ? (state.look === "signal" ? T.number_signal : T.number_whatsapp) + ": " + number
      : "";
  }

  function applyMode() {
    $("practice").hidden = state.mode !== "practice";
    for (const input of document.querySelectorAll("input[name=mode]")) input.checked = input.value === state.mode;
    lastCount = -1;
    showProgress();
    listen();
    refresh();
  }

  document.addEventListener("DOMContentLoaded", async () => {
    for (const input of document.querySelectorAll("input[name=look]")) {
      input.addEventListener("change", () => { state.look = input.value; save(); applyLook(); });
    }
    for (const input of document.querySelectorAll("input[name=helpline]")) {
      if (state.helpline) input.checked = input.value === state.helpline;
      input.addEventListener("change", () => {
        state.helpline = input.value; save(); applyHelpline(); lastCount = -1; listen(); refresh();
      });
    }
    for (const input of document.querySelectorAll("input[name=mode]")) {
      input.addEventListener("change", () => { state.mode = input.value; save(); applyMode(); });
    }
    $("new-texter").addEventListener("click", () => {
      if (state.mode === "practice") state.practice = null; else state.session = newSession();
      save();
      applyMode();
    });
    $("compose").addEventListener("submit", (event) => {
      event.preventDefault();
      const input = $("text");
      const text = input.value.trim();
      if (!text) return;
      input.value = "";
      post(text, null);
    });
    $("next-line").addEventListener("click", sendNextLine);
    for (const button of document.querySelectorAll(".sim-script")) {
      button.addEventListener("click", () => startPractice(button.dataset.script));
    }
    try {
      const response = await fetch("/simulator/api/scripts", { credentials: "same-origin" });
      if (response.ok) scripts = (await response.json()).scripts;
    } catch (e) { /* practice mode stays empty */ }
    applyLook();
    applyMode();
  });
})();
