// Helpline console: the safety-alerts page. Approve and discard go through the
// JSON API (/api/alerts/{id}/approve|discard, audited), then the page is
// loaded again, so the server-rendered list is the one truth.
"use strict";

(function () {
  if (document.body.dataset.page !== "alerts") return;
  const T = JSON.parse(document.getElementById("strings").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function flash(message) {
    const box = document.getElementById("flash");
    box.textContent = T.error + ": " + message;
    box.hidden = false;
  }

  async function post(path) {
    const response = await fetch(path, {
      method: "POST",
      headers: { Accept: "application/json", "X-CSRF-Token": csrf },
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401) { window.location.assign("/console/login"); return; }
    if (!response.ok) {
      let message = String(response.status);
      try {
        const data = await response.json();
        const known = data && data.code && T["error_" + data.code];
        if (known) message = known.replace("{limit}", String(data.limit));
        else if (data && typeof data.error === "string") message = data.error;
      } catch (e) { /* keep the status */ }
      flash(message);
      return;
    }
    window.location.reload();
  }

  document.querySelectorAll("button.approve, button.discard").forEach(function (button) {
    button.addEventListener("click", function () {
      button.disabled = true;
      const action = button.classList.contains("approve") ? "approve" : "discard";
      post("/api/alerts/" + encodeURIComponent(button.dataset.id) + "/" + action)
        .finally(function () { button.disabled = false; });
    });
  });
})();
