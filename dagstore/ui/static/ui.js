// dagstore ui: the little JavaScript the pages need (every page also works without it).
"use strict";
document.addEventListener("DOMContentLoaded", () => {
  // facet histogram bars (no inline styles: the CSP forbids them)
  document.querySelectorAll(".bar[data-w]").forEach((el) => { el.style.width = el.dataset.w + "%"; });
  // live progress of export jobs
  document.querySelectorAll("[data-job]").forEach((el) => poll(el));
  // confirm deletions
  document.querySelectorAll("form[data-confirm]").forEach((f) => f.addEventListener("submit", (e) => {
    if (!window.confirm(f.dataset.confirm)) e.preventDefault();
  }));
});

function poll(el) {
  const url = "/exports/" + encodeURIComponent(el.dataset.job) + ".json";
  const tick = () => fetch(url, { headers: { Accept: "application/json" } })
    .then((r) => r.json())
    .then((job) => {
      const bar = el.querySelector("progress");
      const [done, total] = job.progress || [0, 0];
      if (bar) { bar.max = total || 1; bar.value = done; }
      const status = el.querySelector(".job-status");
      if (status) status.textContent = job.status + (total ? " " + done + "/" + total : "");
      if (job.status === "completed") {
        const link = el.querySelector(".job-download");
        if (link) link.hidden = false;
      } else if (job.status === "failed") {
        const err = el.querySelector(".job-error");
        if (err) { err.textContent = job.error || "failed"; err.hidden = false; }
      } else {
        setTimeout(tick, 700);
      }
    })
    .catch(() => setTimeout(tick, 2000));
  tick();
}
