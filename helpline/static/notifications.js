// Helpline console: a volunteer's notification settings. Saving and turning
// off go through the JSON API (PUT /api/me/notifications, audited), then the
// page is loaded again: the server shows the number masked, never in full.
"use strict";

(function () {
  if (document.body.dataset.page !== "notifications") return;
  const T = JSON.parse(document.getElementById("strings").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function flash(message) {
    const box = document.getElementById("flash");
    box.textContent = T.error + ": " + message;
    box.hidden = false;
  }

  async function put(body) {
    const response = await fetch("/api/me/notifications", {
      method: "PUT",
      headers: { Accept: "application/json", "Content-Type": "application/json",
                 "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401) { window.location.assign("/console/login"); return; }
    if (!response.ok) {
      let message = String(response.status);
      try {
        const data = await response.json();
        if (data && typeof data.error === "string") message = data.error;
      } catch (e) { /* keep the status */ }
      flash(message);
      return;
    }
    window.location.reload();
  }

  document.getElementById("notify-form").addEventListener("submit", function (event) {
    event.preventDefault();
    const form = event.target;
    const from = form.elements.quiet_from.value;
    const until = form.elements.quiet_until.value;
    put({ signal: form.elements.signal.value.trim(),
          quiet_from: from === "" ? null : from,
          quiet_until: until === "" ? null : until });
  });
  const off = document.getElementById("notify-off");
  if (off) off.addEventListener("click", function () { put({ signal: null }); });
})();
