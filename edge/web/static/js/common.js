// Shared helpers: the CSRF header for state-changing requests, the catalogue, fills.
export const csrf = document.querySelector('meta[name="csrf"]')?.content ?? "";

export function post(url, body) {
  return fetch(url, {method: "POST", headers: {"X-CSRF-Token": csrf,
    "Content-Type": "application/json"}, body: JSON.stringify(body ?? {})});
}

export function messages() {
  const block = document.getElementById("i18n");
  return block ? JSON.parse(block.textContent) : {};
}

// widths from data-fill="NN" (percent): CSP forbids style attributes, not CSSOM
export function applyFills(root = document) {
  for (const el of root.querySelectorAll("[data-fill]")) {
    el.style.width = `${Math.max(0, Math.min(100, Number(el.dataset.fill)))}%`;
  }
}
