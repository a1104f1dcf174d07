// Helpline console: choosing the helpline to work in, and (installation
// admins) adding one. Both go through the JSON API; the server decides.
"use strict";

(function () {
  const page = document.body.dataset.page;
  if (page !== "helpline-choice" && page !== "helplines") return;

  const C = window.HelplineConsole;

  async function post(url, body) {
    try {
      return await C.api("POST", url, body);
    } catch (e) {
      C.flash(e.message);
      return null;
    }
  }

  document.querySelectorAll("button.choose-helpline").forEach(function (button) {
    button.addEventListener("click", async function () {
      const data = await post("/api/auth/helpline", { helpline: button.dataset.helpline });
      if (data && typeof data.home === "string" && data.home.startsWith("/console")) {
        window.location.assign(data.home);
      }
    });
  });

  const form = document.getElementById("new-helpline");
  if (form) {
    form.addEventListener("submit", async function (event) {
      event.preventDefault();
      const body = {};
      ["slug", "name", "whatsapp_phone_number_id", "signal_number", "policy"].forEach(function (k) {
        const value = form.elements[k].value.trim();
        if (value !== "") body[k] = value;
      });
      if (await post("/api/admin/helplines", body)) window.location.reload();
    });
  }
})();
