// Helpline console: choosing the helpline to work in, and (installation
// admins) adding one. Both go through the JSON API; the server decides.
"use strict";

(function () {
  const page = document.body.dataset.page;
  if (page !== "helpline-choice" && page !== "helplines") return;
  const T = JSON.parse(document.getElementById("strings").textContent);
  const csrf = document.querySelector('meta[name="csrf-token"]').content;

  function flash(message) {
    const box = document.getElementById("flash");
    box.textContent = T.error + ": " + message;
    box.hidden = false;
  }

  async function post(url, body) {
    const response = await fetch(url, {
      method: "POST",
      headers: { Accept: "application/json", "Content-Type": "application/json",
                 "X-CSRF-Token": csrf },
      body: JSON.stringify(body),
      credentials: "same-origin",
      cache: "no-store",
    });
    if (response.status === 401) { window.location.assign("/console/login"); return null; }
    let data = null;
    try { data = await response.json(); } catch (e) { /* no body */ }
    if (!response.ok) {
      flash(data && typeof data.error === "string" ? data.error : String(response.status));
      return null;
    }
    return data;
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
