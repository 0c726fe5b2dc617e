// The PTZ pad of a live tile: press and hold moves, release stops. While held, the move is
// renewed every 0.4 s; the box stops any move not renewed within 1 s, so a release the
// browser never sends (a closed tab, a lost network) still ends it.
import {messages, post} from "./common.js";

const t = messages();
const RENEW_MS = 400;
const STOPS = {move: "stop", lens: "lens-stop"};

export class Pad {
  constructor(cell, toggle) {
    this.channel = cell.dataset.channel;
    this.root = cell.querySelector(".ptz");
    this.msg = this.root.querySelector(".ptz-msg");
    this.speed = this.root.querySelector(".speed");
    this.list = this.root.querySelector(".preset-list");
    this.number = this.root.querySelector(".preset-number");
    this.held = null;
    toggle.addEventListener("click", () => {
      const open = this.root.hidden;
      this.root.hidden = !open;
      cell.classList.toggle("with-pad", open);
      toggle.setAttribute("aria-pressed", String(open));
      if (open) this.loadPresets();
      else this.release();
    });
    for (const button of this.root.querySelectorAll("[data-hold]")) {
      const act = button.dataset.hold;
      button.addEventListener("pointerdown", (e) => { button.setPointerCapture(e.pointerId); this.hold(act); });
      for (const end of ["pointerup", "pointercancel", "lostpointercapture"]) {
        button.addEventListener(end, () => this.release());
      }
      button.addEventListener("keydown", (e) => {
        if ((e.key === "Enter" || e.key === " ") && !e.repeat) { e.preventDefault(); this.hold(act); }
      });
      button.addEventListener("keyup", (e) => { if (e.key === "Enter" || e.key === " ") this.release(); });
      button.addEventListener("contextmenu", (e) => e.preventDefault());  // a long touch
    }
    this.root.querySelector("[data-once]").addEventListener("click", () => this.send("home"));
    for (const button of this.root.querySelectorAll("[data-preset]")) {
      button.addEventListener("click", () => this.preset(button.dataset.preset));
    }
    this.list.addEventListener("change", () => { this.number.value = this.list.value; });
    window.addEventListener("blur", () => this.release());
  }

  say(text) { this.msg.textContent = text || ""; }

  async send(action, extra = {}) {
    const res = await post(`/api/ptz/${this.channel}`, {action, speed: Number(this.speed.value), ...extra})
      .catch((err) => ({ok: false, json: async () => ({error: err.message})}));
    if (!res.ok) {
      const body = await res.json().catch(() => ({}));
      this.say(`${t["ptz.failed"]}: ${body.error || res.status}`);
      return false;
    }
    if (!extra.renew) this.say("");
    return true;
  }

  hold(action) {
    this.release();
    const kind = action.startsWith("focus") ? "lens" : "move";
    this.held = {kind, timer: setInterval(() => this.send(action, {renew: true}), RENEW_MS)};
    this.send(action);
  }

  release() {
    if (!this.held) return;
    clearInterval(this.held.timer);
    const stop = STOPS[this.held.kind];
    this.held = null;
    this.send(stop);
  }

  async loadPresets() {
    const res = await fetch(`/api/ptz/${this.channel}/presets`);
    const body = await res.json().catch(() => ({}));
    if (!res.ok) { this.say(`${t["ptz.failed"]}: ${body.error || res.status}`); return; }
    // focus only where the camera has an imaging service (iris is set in its own settings)
    for (const el of this.root.querySelectorAll(".lens-focus")) el.hidden = body.imaging !== true;
    this.list.replaceChildren(new Option(body.presets.length ? t["ptz.presets"] : t["ptz.none"], ""));
    for (const [number, name] of body.presets) {
      this.list.append(new Option(name === String(number) ? `${number}` : `${number} ${name}`, number));
    }
  }

  async preset(action) {
    const number = Number(this.number.value || this.list.value);
    if (!(number >= 1 && number <= 255)) { this.say(t["ptz.pick_number"]); return; }
    if (await this.send(action, {number})) {
      if (action === "preset-set") this.say(`${t["ptz.saved"]} ${number}`);
      if (action !== "preset-call") setTimeout(() => this.loadPresets(), 1500);
    }
  }
}
