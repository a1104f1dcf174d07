// Helpline console: the coordinator's held-conversations page. A hand-over
// goes through the JSON API (/api/held/{id}/handover, audited), then the page
// is loaded again, so the server-rendered table is the one truth.
"use strict";

(function () {
  if (document.body.dataset.page !== "held") return;
  const T = JSON.parse(document.getElementById("strings").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function flash(message) {
    const box = document.getElementById("flash");
    box.textContent = T.error + ": " + message;
    box.hidden = false;
  }

  document.querySelectorAll("form.handover").forEach(function (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const to = form.elements.to.value;
      const response = await fetch("/api/held/" + encodeURIComponent(form.dataset.id) + "/handover", {
        method: "POST",
        headers: { Accept: "application/json", "Content-Type": "application/json",
                   "X-CSRF-Token": csrf },
        body: JSON.stringify({ to: to === "" ? null : to }),
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
    });
  });
})();
