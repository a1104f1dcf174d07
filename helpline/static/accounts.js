// Helpline console: the admin's accounts page. Every change goes through
// the JSON API (/api/admin/users...), then the page is loaded again, so the
// server-rendered list is the one truth. A new TOTP secret is shown once, as
// a QR code (a data: URI made by the server) and as text, until "Done".
"use strict";

(function () {
  if (document.body.dataset.page !== "accounts") return;
  const T = JSON.parse(document.getElementById("strings").textContent);

  // The request and error helpers are console.js's (loaded on every page).
  const api = window.HelplineConsole.api;
  const flash = window.HelplineConsole.flash;

  function fill(template, name) { return template.replace("{user}", name); }

  const panel = document.getElementById("totp-panel");
  function showSecret(username, result) {
    const title = document.getElementById("totp-title");
    title.textContent = fill(title.dataset.template, username);
    document.getElementById("totp-qr").src = result.totp_qr;
    const secret = new URL(result.totp_uri).searchParams.get("secret") || "";
    document.getElementById("totp-key").textContent = secret.replace(/(.{4})/g, "$1 ").trim();
    panel.hidden = false;
    panel.scrollIntoView({ block: "start" });
    document.getElementById("totp-done").focus();
  }
  document.getElementById("totp-done").addEventListener("click", function () {
    // Forget the secret on screen, then show the list as it now is.
    document.getElementById("totp-qr").removeAttribute("src");
    document.getElementById("totp-key").textContent = "";
    window.location.reload();
  });

  const form = document.getElementById("new-account");
  const role = document.getElementById("new-role");
  const partnerRow = document.getElementById("new-partner-row");
  function syncPartner() { partnerRow.hidden = role.value !== "partner"; }
  role.addEventListener("change", syncPartner);
  syncPartner();

  form.addEventListener("submit", async function (ev) {
    ev.preventDefault();
    const button = form.querySelector("button[type=submit]");
    button.disabled = true;
    const body = {
      username: form.username.value.trim(),
      role: role.value,
      password: form.password.value,
      alias: form.alias.value.trim() || null,
      partner: role.value === "partner" ? form.partner.value : null,
    };
    try {
      const result = await api("POST", "/api/admin/users", body);
      form.reset();
      syncPartner();
      showSecret(result.user.username, result);
    } catch (e) {
      flash(e.message);
    } finally {
      button.disabled = false;
    }
  });

  document.getElementById("people").addEventListener("change", function (ev) {
    const select = ev.target.closest("select.role-select");
    if (!select) return;
    const partner = select.closest("li").querySelector("select.partner-select");
    if (partner) partner.hidden = select.value !== "partner";
  });

  document.getElementById("people").addEventListener("click", async function (ev) {
    const button = ev.target.closest("button[data-action]");
    if (!button) return;
    const li = button.closest("li");
    const base = "/api/admin/users/" + encodeURIComponent(li.dataset.id);
    const name = li.dataset.username;
    const action = button.dataset.action;
    try {
      if (action === "disable") {
        if (!window.confirm(fill(T.confirm_disable, name))) return;
        await api("POST", base + "/disable");
      } else if (action === "enable") {
        await api("POST", base + "/enable");
      } else if (action === "reset-totp") {
        if (!window.confirm(fill(T.confirm_reset, name))) return;
        showSecret(name, await api("POST", base + "/reset-totp"));
        return;
      } else if (action === "role") {
        const chosen = li.querySelector("select.role-select").value;
        const partner = li.querySelector("select.partner-select");
        await api("POST", base + "/role", {
          role: chosen, partner: chosen === "partner" && partner ? partner.value : null,
        });
      }
      window.location.reload();
    } catch (e) {
      flash(e.message);
    }
  });
})();
