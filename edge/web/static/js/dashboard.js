// The dashboard refreshes itself: the server renders the body again every few seconds.
import {applyFills} from "./common.js";

const root = document.getElementById("dashboard");
applyFills(root);
const every = Number(root.dataset.refresh || 5) * 1000;

async function refresh() {
  try {
    const response = await fetch("/?part=1", {cache: "no-store"});
    if (response.redirected || response.status === 401) { location.reload(); return; }
    if (response.ok) {
      root.innerHTML = await response.text();  // server-rendered, escaped by Jinja
      applyFills(root);
    }
  } catch (err) { /* the box is rebooting or the link is down: try again later */ }
  setTimeout(refresh, every);
}
setTimeout(refresh, every);
