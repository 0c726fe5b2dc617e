// Playback: a day's timeline (recorded ranges, gaps, events), click to play from there,
// speeds 1/2/4/8x, step by keyframe, zoom to minutes. Times shown in the node's zone.
import {messages} from "./common.js";
import {MsePlayer} from "./mse.js";

const t = messages();
const root = document.getElementById("playback");
const channel = root.dataset.channel;
const dayStart = Number(root.dataset.start);
const dayEnd = Number(root.dataset.end);
const video = root.querySelector("video");
const line = document.getElementById("timeline");
const say = (text) => { document.getElementById("pb-msg").textContent = text || ""; };
const clock = new Intl.DateTimeFormat(root.dataset.lang === "zh" ? "zh-CN" : "en-GB", {
  timeZone: root.dataset.tz, hour12: false, year: "numeric", month: "2-digit", day: "2-digit",
  hour: "2-digit", minute: "2-digit", second: "2-digit"});
const hhmm = new Intl.DateTimeFormat("en-GB", {timeZone: root.dataset.tz, hour12: false,
  hour: "2-digit", minute: "2-digit"});
// "YYYY-MM-DD HH:MM:SS" in the node's zone, as the export form takes it
const typed = new Intl.DateTimeFormat("sv-SE", {timeZone: root.dataset.tz, hour12: false,
  year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit", minute: "2-digit",
  second: "2-digit"});
const exportLink = document.getElementById("pb-export");

let view = [dayStart, dayEnd];  // the visible window, epoch seconds
let data = {ranges: [], events: []};
let origin = null;  // wall time of media time 0 of the current stream
let speed = 1;
const player = new MsePlayer(video, {live: false, onState: () => {}});

function position() { return origin === null ? null : origin + video.currentTime; }

async function load() {
  const response = await fetch(`/api/timeline/${channel}?from=${dayStart}&to=${dayEnd}`);
  if (response.ok) data = await response.json();
  draw();
}

function x(ts) { return ((ts - view[0]) / (view[1] - view[0])) * 100; }

function draw() {
  line.replaceChildren();
  const add = (cls, left, width) => {
    const el = document.createElement("div");
    el.className = cls;
    el.style.left = `${left}%`;
    if (width !== undefined) el.style.width = `${Math.max(width, 0.15)}%`;
    line.append(el);
    return el;
  };
  for (const [s, e] of data.ranges) {
    if (e < view[0] || s > view[1]) continue;
    add("range", Math.max(0, x(s)), Math.min(100, x(e)) - Math.max(0, x(s)));
  }
  for (const [ts, kind] of data.events) {
    if (ts >= view[0] && ts <= view[1]) add("event", x(ts)).title = t[`ev.${kind}`] || kind;
  }
  const span = view[1] - view[0];
  const step = [60, 300, 600, 1800, 3600, 7200, 10800].find((s) => span / s <= 12) || 10800;
  for (let tick = Math.ceil(view[0] / step) * step; tick <= view[1]; tick += step) {
    add("tickline", x(tick));
    add("tick", x(tick)).textContent = hhmm.format(new Date(tick * 1000));
  }
  const now = position();
  if (now !== null && now >= view[0] && now <= view[1]) add("cursor", x(now));
  if (exportLink) {  // the range in view, or a minute round what is playing
    const [a, b] = now === null ? view : [now - 30, now + 30];
    const link = new URL(exportLink.href);
    link.searchParams.set("from", typed.format(new Date(a * 1000)));
    link.searchParams.set("to", typed.format(new Date(b * 1000)));
    exportLink.href = link.toString();
  }
}

function recordedAt(ts) { return data.ranges.some(([s, e]) => ts >= s && ts <= e); }

async function playFrom(ts) {
  if (!recordedAt(ts)) {
    const next = data.ranges.find(([s]) => s > ts);
    if (!next) { say(t["pb.no_footage"]); return; }
    ts = next[0];
  }
  say(t["live.connecting"]);
  try {
    const headers = await player.play(`/api/playback/${channel}?start=${ts}`);
    origin = Number(headers.get("X-Origin"));
    video.playbackRate = speed;
    const target = Math.max(0, ts - origin);
    const seek = () => { if (video.buffered.length && video.buffered.end(0) >= target) {
      video.currentTime = target; video.removeEventListener("progress", seek); } };
    video.addEventListener("progress", seek);
    say("");
  } catch (err) {
    say(err.unsupported ? t["live.no_h265"] : `${t["pb.no_footage"]}: ${err.message}`);
  }
}

line.addEventListener("click", (e) => {
  const box = line.getBoundingClientRect();
  playFrom(view[0] + ((e.clientX - box.left) / box.width) * (view[1] - view[0]));
});
line.addEventListener("wheel", (e) => {
  e.preventDefault();
  const box = line.getBoundingClientRect();
  zoom(e.deltaY < 0 ? 0.5 : 2, view[0] + ((e.clientX - box.left) / box.width) * (view[1] - view[0]));
}, {passive: false});
line.addEventListener("keydown", (e) => {
  const span = view[1] - view[0];
  if (e.key === "ArrowLeft" || e.key === "ArrowRight") {
    const shift = (e.key === "ArrowLeft" ? -1 : 1) * span / 10;
    view = clamp([view[0] + shift, view[1] + shift]);
    draw();
  } else if (e.key === "+" || e.key === "=") zoom(0.5);
  else if (e.key === "-") zoom(2);
  else if (e.key === "Enter") playFrom((view[0] + view[1]) / 2);
});

function clamp([a, b]) {
  const span = Math.min(b - a, dayEnd - dayStart);
  a = Math.max(dayStart, Math.min(a, dayEnd - span));
  return [a, a + span];
}

function zoom(factor, around = position() ?? (view[0] + view[1]) / 2) {
  const span = Math.max(600, Math.min(dayEnd - dayStart, (view[1] - view[0]) * factor));
  view = clamp([around - span / 2, around + span / 2]);
  draw();
}

document.getElementById("zoom-in").addEventListener("click", () => zoom(0.5));
document.getElementById("zoom-out").addEventListener("click", () => zoom(2));
document.getElementById("pb-play").addEventListener("click", () => {
  if (origin === null) { playFrom(data.ranges.length ? data.ranges[0][0] : dayStart); return; }
  if (video.paused) video.play(); else video.pause();
});
for (const button of document.querySelectorAll(".speed")) {
  button.addEventListener("click", () => {
    speed = Number(button.dataset.speed);
    video.playbackRate = speed;
    for (const b of document.querySelectorAll(".speed")) b.setAttribute("aria-pressed", String(b === button));
  });
}
const step = (direction) => {
  video.pause();
  const k = direction > 0 ? player.keyframes.next(video.currentTime)
                          : player.keyframes.previous(video.currentTime);
  if (k !== undefined) video.currentTime = k;
};
document.getElementById("pb-back").addEventListener("click", () => step(-1));
document.getElementById("pb-fwd").addEventListener("click", () => step(1));
video.addEventListener("timeupdate", () => {
  const now = position();
  if (now === null) return;
  document.getElementById("pb-clock").textContent = clock.format(new Date(now * 1000));
  draw();
});

// start on the footage: the whole day, or closer in when there is only a little of it
function fit() {
  if (!data.ranges.length) return;
  const first = data.ranges[0][0];
  const last = data.ranges[data.ranges.length - 1][1];
  const margin = Math.max(300, (last - first) * 0.1);
  if (last - first < (dayEnd - dayStart) / 4) {
    view = clamp([first - margin, Math.max(last + margin, first + 600)]);
  }
}

load().then(() => {
  fit();
  draw();
  const at = root.dataset.at;
  if (at) playFrom(Number(at));
});
setInterval(load, 30000);  // today's timeline grows
