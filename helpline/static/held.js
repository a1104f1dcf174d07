// Helpline console: the coordinator's held-conversations page. A hand-over
// goes through the JSON API (/api/held/{id}/handover, audited), then the page
// is loaded again, so the server-rendered table is the one truth.
"use strict";

(function () {
  if (document.body.dataset.page !== "held") return;
  const C = window.HelplineConsole;

  document.querySelectorAll("form.handover").forEach(function (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const to = form.elements.to.value;
      try {
        await C.api("POST", "/api/held/" + encodeURIComponent(form.dataset.id) + "/handover",
          { to: to === "" ? null : to });
      } catch (e) {
        C.flash(e.message);
        return;
      }
      window.location.reload();
    });
  });
})();
