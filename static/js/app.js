// Small progressive enhancements; every page works without them. No inline script (CSP).
(function () {
  "use strict";
  function ready(fn) { if (document.readyState !== "loading") fn(); else document.addEventListener("DOMContentLoaded", fn); }
  ready(function () {
    // "select all" checkboxes: <input type=checkbox data-check-all="name">
    document.querySelectorAll("[data-check-all]").forEach(function (box) {
      box.addEventListener("change", function () {
        document.querySelectorAll("input[type=checkbox][name='" + box.dataset.checkAll + "']").forEach(function (b) { b.checked = box.checked; });
      });
    });
    // confirmation before a submit: <button data-confirm="…">
    document.querySelectorAll("[data-confirm]").forEach(function (el) {
      el.addEventListener("click", function (ev) { if (!window.confirm(el.dataset.confirm)) ev.preventDefault(); });
    });
    // auto-submitting selects: <select data-autosubmit>
    document.querySelectorAll("select[data-autosubmit]").forEach(function (el) {
      el.addEventListener("change", function () { el.form.submit(); });
    });
    // a background job's progress: <div data-job-url="/jobs/1.json" data-done-url="…">
    document.querySelectorAll("[data-job-url]").forEach(function (el) {
      var bar = el.querySelector(".progress > span"), msg = el.querySelector(".job-message");
      function poll() {
        fetch(el.dataset.jobUrl, { credentials: "same-origin", headers: { "Accept": "application/json" } })
          .then(function (r) { return r.json(); })
          .then(function (j) {
            if (bar) bar.style.width = (j.progress || 0) + "%";
            if (msg && j.message) msg.textContent = j.message;
            if (j.status === "done" || j.status === "failed") { window.location.reload(); return; }
            setTimeout(poll, 1000);
          })
          .catch(function () { setTimeout(poll, 3000); });
      }
      setTimeout(poll, 800);
    });
  });
})();

// ==== attendance entry (audit/attendance) — own section ====
// The grid's "fill" buttons submit to the server (/attendance/grid/fill), which skips the days after a
// death, the days off the post and every cell already filled, and says whom it skipped. Here: a
// changed cell is marked until saved, so the operator sees what will change.
(function () {
  "use strict";
  document.addEventListener("change", function (ev) {
    var s = ev.target;
    if (s && s.tagName === "SELECT" && s.closest && s.closest(".grid-entry")) {
      s.parentNode.classList.add("att-changed");
    }
  });
})();
// ==== end attendance entry ====
