// Helpline console: a volunteer's notification settings. Saving and turning
// off go through the JSON API (PUT /api/me/notifications, audited), then the
// page is loaded again: the server shows the number masked, never in full.
"use strict";

(function () {
  if (document.body.dataset.page !== "notifications") return;
  const C = window.HelplineConsole;

  async function put(body) {
    try {
      await C.api("PUT", "/api/me/notifications", body);
    } catch (e) {
      C.flash(e.message);
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
