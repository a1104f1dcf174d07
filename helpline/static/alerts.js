// Helpline console: the safety-alerts page. Approve and discard go through the
// JSON API (/api/alerts/{id}/approve|discard, audited), then the page is
// loaded again, so the server-rendered list is the one truth.
"use strict";

(function () {
  if (document.body.dataset.page !== "alerts") return;

  const C = window.HelplineConsole;

  async function post(path) {
    try {
      await C.api("POST", path);
    } catch (e) {
      C.flash(e.message);
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
