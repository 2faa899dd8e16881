// Latchkey dashboard: small progressive enhancements. Every page works
// without this file; it adds modal dialogs, copy buttons and auto-submit.
(function () {
  "use strict";

  // The reveal dialog is rendered open (visible without JavaScript);
  // re-open it as a modal so focus stays inside and the page is inert.
  function showReveal() {
    var d = document.querySelector("dialog[data-autoshow]");
    if (!d || typeof d.showModal !== "function") return;
    d.close();
    d.showModal();
    var first = d.querySelector("input.secret");
    if (first) { first.focus(); first.select(); }
    d.addEventListener("cancel", function (e) { e.preventDefault(); }); // Esc must not lose the key
  }

  function copy(id, button) {
    var input = document.getElementById(id);
    if (!input) return;
    var status = document.querySelector(".copy-status");
    var done = function (ok) {
      var label = button.querySelector("span");
      if (label) label.textContent = ok ? "Copied" : "Copy";
      if (status) status.textContent = ok ? "Copied to the clipboard." : "Select the text and copy it with Ctrl+C or ⌘C.";
      if (ok) button.classList.add("copied");
      setTimeout(function () { if (label) label.textContent = "Copy"; button.classList.remove("copied"); }, 2000);
    };
    input.focus();
    input.select();
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(input.value).then(function () { done(true); }, function () { done(legacyCopy()); });
    } else {
      done(legacyCopy());
    }
  }

  function legacyCopy() {
    try { return document.execCommand("copy"); } catch (e) { return false; }
  }

  // Links to a confirmation page open it in a dialog instead, when the
  // page can be fetched; otherwise the link is followed as usual.
  function openConfirm(link) {
    var dialog = document.getElementById("confirm-dialog");
    if (!dialog || typeof dialog.showModal !== "function" || !window.fetch || !window.DOMParser) return false;
    fetch(link.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (res) { if (!res.ok) throw new Error(String(res.status)); return res.text(); })
      .then(function (html) {
        var doc = new DOMParser().parseFromString(html, "text/html");
        var card = doc.getElementById("confirm-card");
        if (!card) throw new Error("no confirmation form");
        var slot = dialog.querySelector("[data-slot]");
        slot.replaceChildren(document.importNode(card.firstElementChild, true));
        var title = slot.querySelector("h1");
        if (title) { title.id = "confirm-dialog-title"; }
        slot.querySelectorAll("[data-close]").forEach(function (c) {
          c.addEventListener("click", function (e) { e.preventDefault(); dialog.close(); });
        });
        dialog.showModal();
        var focus = slot.querySelector("select, button[type=submit]");
        if (focus) focus.focus();
      })
      .catch(function () { window.location.href = link.href; });
    return true;
  }

  document.addEventListener("click", function (e) {
    var t = e.target instanceof Element ? e.target : null;
    if (!t) return;
    var copyBtn = t.closest("[data-copy]");
    if (copyBtn) { e.preventDefault(); copy(copyBtn.getAttribute("data-copy"), copyBtn); return; }
    var confirmLink = t.closest("a[data-confirm]");
    if (confirmLink && !e.ctrlKey && !e.metaKey && !e.shiftKey && e.button === 0) {
      if (openConfirm(confirmLink)) e.preventDefault();
      var menu = confirmLink.closest("details.menu");
      if (menu) menu.open = false;
      return;
    }
    // Clicking outside an open action menu closes it.
    document.querySelectorAll("details.menu[open]").forEach(function (m) {
      if (!m.contains(t)) m.open = false;
    });
  });

  document.addEventListener("keydown", function (e) {
    if (e.key !== "Escape") return;
    document.querySelectorAll("details.menu[open]").forEach(function (m) {
      m.open = false;
      var s = m.querySelector("summary");
      if (s) s.focus();
    });
  });

  document.addEventListener("change", function (e) {
    var t = e.target;
    if (t instanceof HTMLSelectElement && t.hasAttribute("data-autosubmit") && t.form) t.form.submit();
  });

  // Clicking the confirm dialog's backdrop cancels it.
  document.addEventListener("DOMContentLoaded", function () {
    showReveal();
    var dialog = document.getElementById("confirm-dialog");
    if (dialog) {
      dialog.addEventListener("click", function (e) { if (e.target === dialog) dialog.close(); });
    }
  });
})();
