// Live grid: each tile plays its camera through MSE; where the browser cannot play the
// codec (H.265 in most Chromes), the tile says so and falls back to the H.264 sub stream,
// else to snapshots refreshed every second. A camera with a loudspeaker beside it has a
// push-to-talk button (the user's broadcast right on that speaker).
import {messages, post} from "./common.js";
import {MsePlayer} from "./mse.js";
import {Pad} from "./ptz.js";
import {PushToTalk, micAllowed} from "./talk.js";

const t = messages();
const RETRY_MS = 3000;

class Tile {
  constructor(cell) {
    this.cell = cell;
    this.channel = cell.dataset.channel;
    this.hasSub = cell.dataset.sub === "1";
    this.video = cell.querySelector("video");
    this.msg = cell.querySelector(".msg");
    this.kind = cell.querySelector(".kind");
    this.stream = 0;
    this.player = new MsePlayer(this.video, {live: true, onState: () => this.retry()});
    this.timer = null;
    cell.querySelector(".pick")?.addEventListener("change", (e) => this.pick(e.target.value));
    cell.querySelector(".mute")?.addEventListener("click", (e) => this.toggleMute(e.target));
    cell.querySelector(".stream")?.addEventListener("click", (e) => {
      this.stream = this.stream ? 0 : 1;
      e.target.setAttribute("aria-pressed", String(Boolean(this.stream)));
      this.start();
    });
    const toggle = cell.querySelector(".ptz-toggle");
    if (toggle) this.pad = new Pad(cell, toggle);
    const talk = cell.querySelector(".tile-talk");
    if (talk) this.talkTo(talk, cell.querySelector(".talk-msg"));
    this.video.addEventListener("error", () => this.retry());
    if (this.channel) this.start();
  }

  // hold to speak through the loudspeaker beside this camera
  talkTo(button, state) {
    const say = (text) => { state.textContent = text; };
    if (!micAllowed()) {
      button.addEventListener("click", () => say(t["bc.mic_blocked"]));
      button.disabled = false;
      return;
    }
    new PushToTalk(button, {speakers: () => [button.dataset.speaker], say, t});
  }

  say(text) { this.msg.hidden = !text; this.msg.textContent = text || ""; }

  async start(note = "") {
    clearTimeout(this.timer);
    this.say(note || t["live.connecting"]);
    try {
      const headers = await this.player.play(`/api/live/${this.channel}?stream=${this.stream}`);
      this.kind.textContent = `${headers.get("X-Video")} · ${this.stream ? t["live.sub"] : t["live.main"]}`;
      this.say(note);
      this.video.hidden = false;
    } catch (err) {
      if (err.unsupported) return this.fallback(err.video);
      this.say(`${t["live.offline"]}: ${err.message}`);
      this.retry();
    }
  }

  fallback(video) {
    const why = video === "hevc" ? t["live.no_h265"] : `${video}?`;
    if (this.stream === 0 && this.hasSub) {
      this.stream = 1;
      return this.start(`${why} — ${t["live.fallback_sub"]}`);
    }
    this.snapshots(`${why} — ${t["live.fallback_jpeg"]}`);
  }

  snapshots(note) {
    this.player.stop();
    this.video.hidden = true;
    let img = this.cell.querySelector("img");
    if (!img) { img = document.createElement("img"); img.alt = this.cell.dataset.name; this.video.after(img); }
    this.say(note);
    const tick = () => {
      post(`/api/live/${this.channel}/want-snapshots`).catch(() => {});
      img.src = `/api/thumb/${this.channel}.jpg?t=${Date.now()}`;
      this.timer = setTimeout(tick, 1000);
    };
    tick();
  }

  retry() {
    clearTimeout(this.timer);
    this.timer = setTimeout(() => this.start(), RETRY_MS);
  }

  toggleMute(button) {
    this.video.muted = !this.video.muted;
    button.setAttribute("aria-pressed", String(this.video.muted));
    button.textContent = this.video.muted ? t["live.unmute"] : t["live.mute"];
  }

  pick(channel) {
    const cells = [...document.querySelectorAll(".cell")].map((c) => c.dataset.channel);
    cells[[...document.querySelectorAll(".cell")].indexOf(this.cell)] = channel;
    const url = new URL(location.href);
    url.searchParams.set("cams", cells.join(","));
    location.href = url.toString();
  }
}

const tiles = [...document.querySelectorAll(".cell")].map((cell) => new Tile(cell));
window.addEventListener("pagehide", () => tiles.forEach((tile) => tile.player.stop()));
