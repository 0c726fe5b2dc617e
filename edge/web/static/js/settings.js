// Settings: URL templates for the common brands, and the probe button.
import {messages, post} from "./common.js";

const t = messages();
for (const box of document.querySelectorAll("fieldset.camera")) {
  const index = Number(box.dataset.index);
  const url = box.querySelector(".url");
  const sub = box.querySelector(".sub-url");
  box.querySelector(".template").addEventListener("change", (e) => {
    const option = e.target.selectedOptions[0];
    if (!option.value) return;
    url.value = option.dataset.main;
    sub.value = option.dataset.sub;
    url.focus();
  });
  box.querySelector(".probe").addEventListener("click", async () => {
    const out = box.querySelector(".probe-result");
    out.textContent = "…";
    const response = await post("/api/probe", {url: url.value, camera: index, field: "url"});
    const r = await response.json();
    out.textContent = r.ok
      ? `${t["set.probe_result"]}: ${r.video_codec} ${r.width}x${r.height} ${r.fps} fps, `
        + `${(r.bitrate_bps / 1e6).toFixed(2)} Mbit/s${r.audio_codec ? ", " + r.audio_codec : ""}`
      : `${t["set.probe_result"]}: ${r.error}`;
  });
}

// 搜索摄像机: the scan, a card per picture with its thumbnail, and "add" for the ticked ones
const dialog = document.getElementById("discover");
const $ = (id) => document.getElementById(id);
document.getElementById("discover-open").addEventListener("click", () => dialog.showModal());
$("dv-close").addEventListener("click", () => dialog.close());

function card(p, device) {
  const item = document.createElement("label");
  item.className = "found-item";
  const tick = Object.assign(document.createElement("input"), {type: "checkbox", disabled: p.configured});
  const img = Object.assign(document.createElement("img"), {alt: "", loading: "lazy"});
  img.addEventListener("error", () => img.replaceWith(Object.assign(document.createElement("span"), {className: "nothumb"})));
  if (p.snapshot) img.src = `/api/discover/${p.device}/${encodeURIComponent(p.source)}/snapshot.jpg`;
  else img.dispatchEvent(new Event("error"));
  const facts = document.createElement("div");
  const head = document.createElement("strong");
  head.textContent = `${device.maker} ${device.model}`;
  const where = document.createElement("span");
  where.className = "small";
  where.textContent = `${device.address} · ${p.main}${p.sub ? " / " + p.sub : ""}`
    + (p.configured ? ` · ${t["set.discover_already"]}` : "");
  const id = Object.assign(document.createElement("input"), {value: p.id, maxLength: 20, ariaLabel: "ID"});
  const name = Object.assign(document.createElement("input"), {value: p.name, ariaLabel: "name"});
  facts.append(head, document.createElement("br"), where, id, name);
  item.append(tick, img, facts);
  item.pick = () => tick.checked && {device: p.device, source: p.source, id: id.value.trim(), name: name.value.trim()};
  return item;
}

$("dv-scan").addEventListener("click", async () => {
  $("dv-status").textContent = t["set.discover_scanning"];
  $("dv-results").replaceChildren();
  $("dv-problems").replaceChildren();
  $("dv-add").disabled = true;
  const response = await post("/api/discover", {user: $("dv-user").value, password: $("dv-password").value,
    address: $("dv-address").value});
  const r = await response.json().catch(() => ({ok: false, error: response.status}));
  if (!r.ok) { $("dv-status").textContent = r.error; return; }
  $("dv-status").textContent = r.devices.length
    ? t["set.discover_found"].replace("{devices}", r.devices.length).replace("{pictures}", r.pictures.length)
    : t["set.discover_none"];
  $("dv-results").append(...r.pictures.map((p) => card(p, r.devices[p.device])));
  const problems = [
    ...r.refused.map((x) => `${x.address}: ${x.error}`),
    ...r.devices.flatMap((d) => [...d.problems, ...d.no_rtsp.map((x) => `${t["set.discover_no_rtsp"]}: ${x}`)]
      .map((x) => `${d.address}: ${x}`)),
  ];
  $("dv-problems").append(...problems.map((x) => Object.assign(document.createElement("li"), {textContent: x})));
  $("dv-add").disabled = !r.pictures.some((p) => !p.configured);
});

$("dv-add").addEventListener("click", async () => {
  const items = [...$("dv-results").children].map((c) => c.pick()).filter(Boolean);
  if (!items.length) return;
  const response = await post("/api/discover/add", {items});
  const r = await response.json().catch(() => ({ok: false, error: response.status}));
  $("dv-problems").replaceChildren(...(r.problems || (r.ok ? [] : [r.error]))
    .map((x) => Object.assign(document.createElement("li"), {textContent: x})));
  if (r.ok) {
    $("dv-status").textContent = t["set.discover_added"];
    setTimeout(() => location.reload(), 1500);
  }
});
