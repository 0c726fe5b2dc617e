// The print button (CSP allows no inline onclick).
document.getElementById("print")?.addEventListener("click", () => window.print());
