// Helpline console: the live parts on top of the server-rendered pages.
//
// Safety rules for this file (a message body is attacker-controlled text):
// - every body, note, alias or pseudonym is inserted with textContent, never
//   innerHTML, so `<script>` or `<img onerror>` in a message stays inert text;
// - every request goes to this origin only (the CSP allows nothing else);
// - notifications carry no content: a fixed sentence, no pseudonym, no text.
"use strict";

(function () {
  const page = document.body.dataset.page;
  const stringsNode = document.getElementById("strings");
  const T = stringsNode ? JSON.parse(stringsNode.textContent) : {};
  const csrfMeta = document.querySelector('meta[name="csrf-token"]');
  const csrf = csrfMeta ? csrfMeta.content : "";
  // Set while signing out: the session ends under the live stream and any
  // request in flight, and their "signed out" must not send the page to the
  // sign-in form instead of where sign-out goes (the end-of-shift page).
  let leaving = false;

  function el(tag, className, text) {
    const node = document.createElement(tag);
    if (className) node.className = className;
    if (text !== undefined && text !== null) node.textContent = String(text);
    return node;
  }

  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (body !== undefined) headers["Content-Type"] = "application/json";
    if (method !== "GET") headers["X-CSRF-Token"] = csrf;
    const response = await fetch(path, {
      method: method,
      headers: headers,
      body: body === undefined ? undefined : JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401 && page !== "login") {
      if (!leaving) window.location.assign("/console/login");
      throw new Error("signed out");
    }
    let data = null;
    try {
      data = await response.json();
    } catch (e) {
      data = null;
    }
    if (!response.ok) {
      // A refusal with a code (the conversation cap) is said in the page's language.
      const known = data && data.code && T["error_" + data.code];
      let text = known ? known.replace("{limit}", String(data.limit)) : data && data.error;
      // A form the server's validation refused (FastAPI's `detail` list) is
      // said as the page's general error, not as field internals.
      if (!text && data && Array.isArray(data.detail)) text = T.error;
      const error = new Error(text || String(response.status));
      error.status = response.status;
      throw error;
    }
    return data;
  }

  function flash(message) {
    const box = document.getElementById("flash");
    if (!box) return;
    box.textContent = (T.error || "Error") + ": " + message;
    box.hidden = false;
    box.scrollIntoView({ block: "nearest" });
    window.setTimeout(function () { box.hidden = true; }, 6000);
  }

  function timeText(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return d.toLocaleString(document.documentElement.lang === "en" ? "en-GB" : "nl-NL", {
      day: "2-digit", month: "2-digit", hour: "2-digit", minute: "2-digit",
    });
  }

  function duration(seconds) {
    if (seconds === null || seconds === undefined) return "";
    const minutes = Math.floor(seconds / 60);
    if (minutes < 60) return (seconds >= 30 ? Math.max(minutes, 1) : 0) + " min";
    const hours = Math.floor(minutes / 60);
    if (hours < 48) return hours + " h " + (minutes % 60) + " min";
    return Math.floor(hours / 24) + " d";
  }

  function localiseTimes(root) {
    root.querySelectorAll("time[datetime]").forEach(function (node) {
      node.textContent = timeText(node.getAttribute("datetime"));
    });
  }

  // ------------------------------------------------------------ header

  function bindHeader() {
    const out = document.getElementById("sign-out");
    if (out) {
      out.addEventListener("click", async function () {
        leaving = true;
        // The sign-in page in the language the user was reading.
        let next = "/console/login?lang=" + (document.documentElement.lang === "en" ? "en" : "nl");
        try {
          const done = await api("POST", "/api/auth/logout");
          if (done && typeof done.next === "string" && done.next.startsWith("/console/")) {
            next = done.next;
          }
        } catch (e) { /* signed out anyway */ }
        window.location.assign(next);
      });
    }
    const print = document.getElementById("print");
    if (print) print.addEventListener("click", function () { window.print(); });
    const lang = document.getElementById("lang-switch");
    if (lang) {
      lang.addEventListener("click", async function () {
        try {
          await api("PUT", "/api/me/language", { language: lang.dataset.language });
          window.location.reload();
        } catch (e) { flash(e.message); }
      });
    }
  }

  // ------------------------------------------------------------ live events

  function connect(onEvent, onReady) {
    const live = document.getElementById("live");
    let source = null;
    function setLive(on) {
      if (!live) return;
      live.textContent = on ? live.dataset.on : live.dataset.off;
      live.classList.toggle("off", !on);
    }
    function open() {
      source = new EventSource("/api/events");
      source.addEventListener("ready", function () { setLive(true); if (onReady) onReady(); });
      ["message", "status", "claim", "release", "close", "referral", "queue", "alert",
        "media"].forEach(
        function (kind) {
          source.addEventListener(kind, function (ev) {
            let data = {};
            try { data = JSON.parse(ev.data); } catch (e) { return; }
            onEvent(kind, data);
          });
        }
      );
      source.addEventListener("signed_out", function () {
        source.close();
        if (!leaving) window.location.assign("/console/login");
      });
      source.onerror = function () {
        setLive(false);
        if (source.readyState === EventSource.CLOSED) {
          // The server refused the stream (for example the session ended):
          // a plain request finds out, and sends the page to sign-in on 401.
          window.setTimeout(function () {
            api("GET", "/api/colleagues").then(open, function () { window.setTimeout(open, 5000); });
          }, 3000);
        }
      };
    }
    open();
  }

  // ------------------------------------------------------------ sign-in

  function loginPage() {
    const form = document.getElementById("login-form");
    const error = document.getElementById("login-error");
    form.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      error.hidden = true;
      const body = {
        username: form.username.value.trim(),
        password: form.password.value,
        totp: form.totp.value.trim(),
      };
      // A language asked for on this page (?lang=en) is kept for the account.
      const asked = new URLSearchParams(window.location.search).get("lang");
      if (asked) body.lang = asked;
      try {
        const result = await api("POST", "/api/auth/login", body);
        window.location.assign(result.home || "/console");
      } catch (e) {
        error.hidden = false;
        form.totp.value = "";
        if (e.status === 401 && e.message.indexOf("code already used") === 0) {
          // The password was right (the server says so only then): keep it.
          error.textContent = error.dataset.codeUsed;
          form.totp.focus();
          return;
        }
        error.textContent = e.status === 429 ? error.dataset.throttled : error.dataset.failed;
        form.password.value = "";
        form.password.focus();
      }
    });
  }

  // ------------------------------------------------------------ queue

  function heldItem(item) {
    // A colleague's conversation: that it exists and who holds it, no link.
    const li = el("li", "item held");
    li.dataset.id = item.id;
    const body = el("div", "item-body");
    const head = el("span", "item-head");
    head.appendChild(el("span", "pseudonym", T.held_by_colleague));
    if (item.priority === "urgent") head.appendChild(el("span", "badge badge-urgent", T.urgent));
    body.appendChild(head);
    const meta = el("span", "item-meta");
    meta.appendChild(el("span", "channel", item.channel));
    meta.appendChild(el("span", "claim", T.claimed_by + " " + item.claimed_by));
    body.appendChild(meta);
    li.appendChild(body);
    return li;
  }

  function queueItem(item) {
    if (item.held_by_colleague) return heldItem(item);
    const li = el("li", "item" + (item.priority === "urgent" ? " urgent" : ""));
    li.dataset.id = item.id;
    const a = el("a");
    a.href = "/console/conversations/" + encodeURIComponent(item.id);
    const head = el("span", "item-head");
    head.appendChild(el("span", "pseudonym", item.pseudonym));
    if (item.priority === "urgent") head.appendChild(el("span", "badge badge-urgent", T.urgent));
    if (item.practice) head.appendChild(el("span", "badge", T.practice));
    if (item.content_warning) head.appendChild(el("span", "badge badge-cw", T.cw_badge));
    a.appendChild(head);
    const meta = el("span", "item-meta");
    meta.appendChild(el("span", "channel", item.channel));
    if (item.language) meta.appendChild(el("span", null, item.language.toUpperCase()));
    if (item.waiting_seconds !== null && item.waiting_seconds !== undefined) {
      meta.appendChild(el("span", "waiting", T.waiting + " " + duration(item.waiting_seconds)));
    }
    meta.appendChild(el("span", "claim",
      item.claimed_by ? T.claimed_by + " " + item.claimed_by : T.unclaimed));
    if (item.window_closes_at) {
      const w = el("span", "window", T.window + " ");
      const t = el("time", null, timeText(item.window_closes_at));
      t.setAttribute("datetime", item.window_closes_at);
      w.appendChild(t);
      meta.appendChild(w);
    }
    a.appendChild(meta);
    if (item.labels && item.labels.length) {
      const topics = el("span", "item-topics");
      item.labels.forEach(function (l) { topics.appendChild(el("span", "topic", T["label_" + l] || l)); });
      a.appendChild(topics);
    }
    if (item.preview) a.appendChild(el("span", "item-preview", item.preview));
    li.appendChild(a);
    return li;
  }

  function queuePage() {
    const main = document.getElementById("main");
    const view = main.dataset.view;
    const list = document.getElementById("items");
    const empty = document.getElementById("empty");
    const more = document.getElementById("more");
    const notifyButton = document.getElementById("notify-on");
    let known = new Set(Array.from(list.children).map(function (li) { return li.dataset.id; }));
    let loaded = false;
    localiseTimes(list);

    if ("Notification" in window && Notification.permission === "default" && notifyButton) {
      notifyButton.hidden = false;
      notifyButton.addEventListener("click", function () {
        Notification.requestPermission().finally(function () { notifyButton.hidden = true; });
      });
    }

    function notifyNew() {
      // Content-free on purpose: a lock screen or a shared laptop must not
      // show who wrote or what (DESIGN invariant 7).
      if ("Notification" in window && Notification.permission === "granted" && document.hidden) {
        new Notification(T.notify_text, { tag: "helpline-queue", silent: false });
      }
    }

    async function reload() {
      const data = await api("GET", "/api/conversations?view=" + encodeURIComponent(view));
      const fresh = new Set(data.items.map(function (i) { return i.id; }));
      const arrived = loaded && view === "queue" &&
        data.items.some(function (i) { return !known.has(i.id); });
      list.replaceChildren.apply(list, data.items.map(queueItem));
      empty.hidden = data.items.length > 0;
      more.dataset.cursor = data.next_cursor || "";
      more.hidden = !data.next_cursor;
      known = fresh;
      loaded = true;
      if (arrived) notifyNew();
    }

    more.addEventListener("click", async function () {
      const cursor = more.dataset.cursor;
      if (!cursor) return;
      try {
        const data = await api("GET", "/api/conversations?view=" + encodeURIComponent(view) +
          "&cursor=" + encodeURIComponent(cursor));
        data.items.forEach(function (i) { list.appendChild(queueItem(i)); known.add(i.id); });
        more.dataset.cursor = data.next_cursor || "";
        more.hidden = !data.next_cursor;
      } catch (e) { flash(e.message); }
    });

    let pending = null;
    function soon() {
      if (pending) return;
      pending = window.setTimeout(function () {
        pending = null;
        reload().catch(function (e) { flash(e.message); });
      }, 150);
    }
    connect(function () { soon(); }, function () { soon(); });
    window.setInterval(soon, 60000); // waiting times move on
  }

  // ------------------------------------------------------------ conversation

  // Media (helpline/media/): a voice note plays inline; a photo or video is
  // loaded only after a click, so nobody is surprised by a graphic image; a
  // document is a download, never shown in the page. Same origin, no cache.
  function mediaBlock(item) {
    const box = el("div", "media media-" + item.kind);
    box.dataset.media = item.id;
    if (!item.url) {
      box.appendChild(el("p", "media-notice", T["media_" + item.state] || item.notice));
      return box;
    }
    if (item.kind === "audio") {
      const audio = el("audio");
      audio.controls = true;
      audio.preload = "none";
      audio.src = item.url;
      box.appendChild(audio);
      return box;
    }
    if (item.warning) {
      // A file kept as it came (a PDF that could not be cleaned): said before it is opened.
      box.appendChild(el("p", "media-warning",
        T["media_warning_" + item.warning_code] || item.warning));
    }
    if (item.kind === "document") {
      const link = el("a", "button secondary media-download", T.media_download);
      link.href = item.url;
      link.setAttribute("download", "");
      box.appendChild(link);
      return box;
    }
    const show = el("button", "secondary media-show",
      item.kind === "video" ? T.media_show_video : T.media_show_photo);
    show.type = "button";
    show.dataset.url = item.url;
    show.dataset.kind = item.kind;
    box.appendChild(show);
    return box;
  }

  // One handler for the server-rendered page and for mediaBlock() alike.
  document.addEventListener("click", function (ev) {
    const show = ev.target instanceof Element ? ev.target.closest(".media-show") : null;
    if (!show || !show.dataset.url) return;
    const video = show.dataset.kind === "video";
    const node = el(video ? "video" : "img", "media-content");
    if (video) node.controls = true;
    else node.alt = T["kind_" + show.dataset.kind] || "";
    node.src = show.dataset.url;
    show.replaceWith(node);
  });

  function messageItem(m, conv) {
    const li = el("li", "msg msg-" + m.direction + (m.author === "bot" ? " msg-bot" : "") +
      " status-" + m.status);
    li.dataset.id = m.id;
    const bubble = el("div", "bubble");
    // Non-text messages carry a readable placeholder (helpline/console/placeholders.py).
    const body = el("p", "body");
    if (m.placeholder) {
      body.appendChild(el("span", "placeholder", T["kind_" + m.kind] || m.placeholder));
      if (m.body !== null) body.appendChild(document.createTextNode(" "));
    }
    if (m.body !== null) body.appendChild(document.createTextNode(m.body));
    else if (!m.placeholder) body.textContent = "[" + m.kind + "]";
    bubble.appendChild(body);
    (m.media || []).forEach(function (item) { bubble.appendChild(mediaBlock(item)); });
    li.appendChild(bubble);
    const meta = el("div", "msg-meta");
    let author = conv.pseudonym;
    if (m.author === "bot") author = T.bot;
    else if (m.author) author = m.author;
    meta.appendChild(el("span", "author", author));
    const t = el("time", null, timeText(m.created_at));
    t.setAttribute("datetime", m.created_at);
    meta.appendChild(t);
    if (m.direction === "out") {
      meta.appendChild(el("span", "status", T["status_" + m.status] || m.status));
    }
    if (m.status === "failed") {
      meta.appendChild(el("span", "error-reason", T.failed + ": " + (m.error_reason || "")));
      if (conv.claimed_by_me) {
        const b = el("button", "retry secondary", T.retry);
        b.type = "button";
        b.dataset.message = m.id;
        meta.appendChild(b);
      }
    }
    li.appendChild(meta);
    return li;
  }

  function noteItem(n) {
    const li = el("li");
    li.appendChild(el("p", "body", n.body));
    const meta = el("p", "note-meta", n.author + " · ");
    const t = el("time", null, timeText(n.created_at));
    t.setAttribute("datetime", n.created_at);
    meta.appendChild(t);
    li.appendChild(meta);
    return li;
  }

  function conversationPage() {
    const main = document.getElementById("main");
    const id = main.dataset.id;
    const base = "/api/conversations/" + encodeURIComponent(id);
    const list = document.getElementById("messages");
    const claimState = document.getElementById("claim-state");
    const claimButton = document.getElementById("claim");
    const releaseButton = document.getElementById("release");
    const closeButton = document.getElementById("close");
    const replyForm = document.getElementById("reply-form");
    const replyBody = document.getElementById("reply-body");
    const cwBadge = document.getElementById("cw-badge");
    const cwToggle = document.getElementById("cw-toggle");
    const cwShow = document.getElementById("cw-show");
    localiseTimes(document);

    function toLatest() {
      // Desktop: the list scrolls itself; phone: the page does.
      if (list.scrollHeight > list.clientHeight + 4) list.scrollTop = list.scrollHeight;
      else if (list.lastElementChild) list.lastElementChild.scrollIntoView({ block: "end" });
    }

    function texterAnchor() {
      // What the volunteer has not answered yet: the texter's first message
      // after the last human reply, else the texter's newest message. The
      // bot's welcome after a first message is long and must not push the
      // question out of sight.
      const items = Array.from(list.children);
      let lastHuman = -1;
      items.forEach(function (li, i) {
        if (li.classList.contains("msg-out") && !li.classList.contains("msg-bot")) lastHuman = i;
      });
      const incoming = items.filter(function (li) { return li.classList.contains("msg-in"); });
      const unanswered = items.slice(lastHuman + 1).filter(function (li) {
        return li.classList.contains("msg-in");
      });
      return unanswered[0] || incoming[incoming.length - 1] || null;
    }

    function toTexter() {
      toLatest();
      const anchor = texterAnchor();
      if (!anchor) return;
      anchor.classList.add("anchor");
      if (list.scrollHeight > list.clientHeight + 4) {
        const above = anchor.getBoundingClientRect().top - list.getBoundingClientRect().top;
        if (above < 0) list.scrollTop += above - 8;
      } else if (anchor.getBoundingClientRect().top < 0) {
        anchor.scrollIntoView({ block: "start" });
      }
    }
    toTexter();
    // Until the reader scrolls or writes, every refresh (the live stream's
    // first read, a new message) keeps the texter's message in view; after
    // that the view is theirs, following the newest only from the bottom.
    let settled = false;
    ["wheel", "touchmove", "keydown", "mousedown"].forEach(function (kind) {
      window.addEventListener(kind, function () { settled = true; }, { passive: true });
    });

    // A live refresh must not stop a voice note that is playing or hide a
    // photo the reader chose to see: unchanged messages are not rebuilt, and
    // a stored file's element moves into the new list as it is.
    let shownMessages = null;
    function keepMedia(items) {
      const kept = {};
      list.querySelectorAll(".media[data-media]").forEach(function (box) {
        if (!box.querySelector(".media-notice")) kept[box.dataset.media] = box;
      });
      items.forEach(function (li) {
        li.querySelectorAll(".media[data-media]").forEach(function (box) {
          const old = kept[box.dataset.media];
          if (old && !box.querySelector(".media-notice")) box.replaceWith(old);
        });
      });
    }

    function render(conv) {
      const atBottom = list.scrollHeight - list.scrollTop - list.clientHeight < 80;
      const messages = JSON.stringify([conv.messages, conv.pseudonym, conv.claimed_by_me]);
      if (messages !== shownMessages) {
        const items = conv.messages.map(function (m) { return messageItem(m, conv); });
        keepMedia(items);
        list.replaceChildren.apply(list, items);
        shownMessages = messages;
      }
      claimState.textContent = conv.claimed_by ? T.claimed_by + " " + conv.claimed_by : T.unclaimed;
      claimState.dataset.claimedBy = conv.claimed_by || "";
      claimState.dataset.mine = conv.claimed_by_me ? "yes" : "no";
      const closed = conv.status === "closed";
      claimButton.hidden = Boolean(conv.claimed_by) || closed;
      releaseButton.hidden = !conv.claimed_by_me;
      closeButton.hidden = closed || (Boolean(conv.claimed_by) && !conv.claimed_by_me);
      replyForm.hidden = !conv.claimed_by_me || closed;
      cwBadge.hidden = !conv.content_warning;
      cwToggle.dataset.on = conv.content_warning ? "yes" : "no";
      cwToggle.textContent = conv.content_warning ? cwToggle.dataset.clear : cwToggle.dataset.set;
      const notes = document.getElementById("notes");
      if (notes) notes.replaceChildren.apply(notes, conv.notes.map(noteItem));
      if (!settled) toTexter();
      else if (atBottom) toLatest();
    }

    async function reload() {
      try {
        render(await api("GET", base));
      } catch (e) {
        if (e.status === 404) window.location.assign("/console");
        else flash(e.message);
      }
    }

    async function act(method, path, body) {
      try {
        const result = await api(method, path, body);
        await reload();
        return result;
      } catch (e) {
        flash(e.message);
        return null;
      }
    }

    claimButton.addEventListener("click", function () { act("POST", base + "/claim"); });
    releaseButton.addEventListener("click", function () { act("POST", base + "/release"); });
    closeButton.addEventListener("click", function () { act("POST", base + "/close"); });
    cwToggle.addEventListener("click", function () {
      act("PUT", base + "/content-warning", { on: cwToggle.dataset.on !== "yes" });
    });
    if (cwShow) {
      cwShow.addEventListener("click", function () {
        document.getElementById("cw-notice").hidden = true;
        list.hidden = false;
        toLatest();
      });
    }

    list.addEventListener("click", function (ev) {
      const button = ev.target.closest("button.retry");
      if (!button) return;
      act("POST", base + "/messages/" + encodeURIComponent(button.dataset.message) + "/retry");
    });

    const saved = document.getElementById("saved-reply");
    if (saved) {
      saved.addEventListener("change", function () {
        const option = saved.selectedOptions[0];
        if (option && option.dataset.body) {
          replyBody.value = option.dataset.body;
          replyBody.focus();
        }
        saved.value = "";
      });
    }

    replyForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const text = replyBody.value.trim();
      if (!text) return;
      const button = replyForm.querySelector("button[type=submit]");
      button.disabled = true;
      const sent = await act("POST", base + "/messages", { body: text });
      button.disabled = false;
      if (sent) replyBody.value = "";
      replyBody.focus();
    });
    replyBody.addEventListener("keydown", function (ev) {
      if (ev.key === "Enter" && (ev.ctrlKey || ev.metaKey)) replyForm.requestSubmit();
    });

    const noteForm = document.getElementById("note-form");
    noteForm.addEventListener("submit", async function (ev) {
      ev.preventDefault();
      const box = document.getElementById("note-body");
      const text = box.value.trim();
      if (!text) return;
      if (await act("POST", base + "/notes", { body: text })) box.value = "";
    });

    const labelsForm = document.getElementById("labels-form");
    labelsForm.addEventListener("submit", function (ev) {
      ev.preventDefault();
      const labels = Array.from(labelsForm.querySelectorAll("input[name=label]:checked"))
        .map(function (i) { return i.value; });
      act("PUT", base + "/labels", { labels: labels });
    });

    const referralForm = document.getElementById("referral-form");
    if (referralForm) {
      referralForm.addEventListener("submit", async function (ev) {
        ev.preventDefault();
        const note = document.getElementById("referral-note");
        const done = await act("POST", base + "/referrals", {
          partner: document.getElementById("referral-partner").value,
          note: note.value.trim() || null,
        });
        if (done) window.location.reload();
      });
    }

    // A safety-alert draft: the answer is the masked text, shown as saved.
    const alertForm = document.getElementById("alert-form");
    if (alertForm) {
      alertForm.addEventListener("submit", async function (ev) {
        ev.preventDefault();
        const box = document.getElementById("alert-text");
        const text = box.value.trim();
        if (!text) return;
        const done = await act("POST", base + "/alerts", { text: text });
        if (!done) return;
        box.value = "";
        const preview = document.getElementById("alert-preview");
        preview.textContent = done.body;
        preview.hidden = false;
        document.getElementById("alert-saved").hidden = false;
      });
    }

    const transferForm = document.getElementById("transfer-form");
    if (transferForm) {
      transferForm.addEventListener("submit", function (ev) {
        ev.preventDefault();
        act("POST", base + "/transfer", { to: document.getElementById("transfer-to").value });
      });
    }

    connect(function (kind, data) {
      if (data.conversation === id) reload();
    }, reload);
  }

  // ------------------------------------------------------------ start

  // The page scripts (held.js, notifications.js) call the same request and
  // error helpers instead of keeping copies (console.js is loaded first).
  window.HelplineConsole = Object.freeze({ api: api, flash: flash });

  bindHeader();
  if (page === "login") loginPage();
  else if (page === "queue") queuePage();
  else if (page === "conversation") conversationPage();
})();
