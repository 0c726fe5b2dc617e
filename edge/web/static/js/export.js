// Export page: progress bars move while jobs run; the page reloads when one finishes.
import {applyFills} from "./common.js";

applyFills();
async function poll() {
  const running = [...document.querySelectorAll('tr[data-state="running"]')];
  for (const row of running) {
    const response = await fetch(`/api/export/${row.dataset.job}`, {cache: "no-store"});
    if (!response.ok) continue;
    const job = await response.json();
    // finished, or out of the queue and running: the page shows it anew
    if (job.state !== "running" || (row.querySelector(".tag") && !job.queued)) { location.reload(); return; }
    const bar = row.querySelector("[data-fill]");
    if (bar) { bar.dataset.fill = String(Math.round((job.progress || 0) * 100)); applyFills(row); }
  }
  if (running.length) setTimeout(poll, 1000);
}
poll();
