// 规则编辑: zones, masks and tripwires drawn over the camera's latest picture. Points are
// fractions of the picture (0..1), as in the config file; the SVG's viewBox is 1000 wide and
// as high as the picture's shape makes it. Tap/click adds a point; a handle can be dragged.
import {messages, post} from "./common.js";

const t = messages();
const stage = document.querySelector(".stage");
const svg = document.getElementById("overlay");
const list = document.getElementById("rule-list");
const hint = document.getElementById("hint");
const finish = document.getElementById("finish");
const cancel = document.getElementById("cancel");
const NS = "http://www.w3.org/2000/svg";
const S = 1000;
let H = S;  // the viewBox's height: the picture's aspect (circles stay round)
const rules = JSON.parse(document.getElementById("rules").textContent);
let drawing = null;  // {kind, points}
let dragging = null;  // {points, index}

function el(name, attrs, parent) {
  const node = document.createElementNS(NS, name);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  parent.append(node);
  return node;
}

function fraction(event) {
  const box = svg.getBoundingClientRect();
  const x = Math.min(1, Math.max(0, (event.clientX - box.left) / box.width));
  const y = Math.min(1, Math.max(0, (event.clientY - box.top) / box.height));
  return [Math.round(x * 1e4) / 1e4, Math.round(y * 1e4) / 1e4];
}

const scaled = points => points.map(([x, y]) => `${x * S},${y * H}`).join(" ");

function handles(points) {
  points.forEach(([x, y], index) => {
    const h = el("circle", {cx: x * S, cy: y * H, r: 16, class: "handle"}, svg);
    h.addEventListener("pointerdown", event => {
      event.stopPropagation();
      svg.setPointerCapture(event.pointerId);
      dragging = {points, index};
    });
  });
}

// side A is on the left going from the first point to the second, as on the screen
function sides([[x1, y1], [x2, y2]]) {
  const dx = (x2 - x1) * S, dy = (y2 - y1) * H, len = Math.hypot(dx, dy) || 1;
  const mx = (x1 + x2) * S / 2, my = (y1 + y2) * H / 2, nx = dy / len, ny = -dx / len;
  return {a: [mx + nx * 90, my + ny * 90], b: [mx - nx * 90, my - ny * 90]};
}

function draw() {
  svg.replaceChildren();
  const defs = el("defs", {}, svg);
  const marker = el("marker", {id: "arrow", viewBox: "0 0 10 10", refX: 8, refY: 5,
                               markerWidth: 6, markerHeight: 6, orient: "auto-start-reverse"}, defs);
  el("path", {d: "M0,0 L10,5 L0,10 z", class: "arrowhead"}, marker);
  for (const mask of rules.masks) { el("polygon", {points: scaled(mask), class: "mask"}, svg); handles(mask); }
  for (const zone of rules.zones) {
    el("polygon", {points: scaled(zone.polygon), class: "zone"}, svg);
    const [x, y] = zone.polygon[0];
    el("text", {x: x * S + 10, y: y * H + 40, class: "tag"}, svg).textContent = zone.name;
    handles(zone.polygon);
  }
  for (const wire of rules.tripwires) {
    el("polyline", {points: scaled(wire.line), class: "wire"}, svg);
    const {a, b} = sides(wire.line);
    const [from, to] = wire.direction === "b_to_a" ? [b, a] : [a, b];
    const arrow = el("line", {x1: from[0], y1: from[1], x2: to[0], y2: to[1], class: "way",
                              "marker-end": "url(#arrow)"}, svg);
    if (wire.direction === "both") arrow.setAttribute("marker-start", "url(#arrow)");
    el("text", {x: a[0], y: a[1], class: "side"}, svg).textContent = "A";
    el("text", {x: b[0], y: b[1], class: "side"}, svg).textContent = "B";
    const [x, y] = wire.line[0];
    el("text", {x: x * S + 16, y: y * H - 16, class: "tag"}, svg).textContent = wire.name;
    handles(wire.line);
  }
  if (drawing) {
    el("polyline", {points: scaled(drawing.points), class: `drawing ${drawing.kind}`}, svg);
    for (const [x, y] of drawing.points) el("circle", {cx: x * S, cy: y * H, r: 10, class: "handle"}, svg);
  }
}

function field(parent, label, value, onInput, attrs = {}) {
  const wrap = Object.assign(document.createElement("label"), {textContent: label});
  const input = Object.assign(document.createElement("input"), {value: value ?? ""}, attrs);
  input.addEventListener("input", () => { onInput(input.value); draw(); });
  wrap.append(input);
  parent.append(wrap);
  return input;
}

function schedule(parent, rule) {
  field(parent, t["ru.schedule"], (rule.schedule || []).join(", "),
        v => { rule.schedule = v.split(",").map(s => s.trim()).filter(Boolean); },
        {placeholder: "22:00-06:00, sat,sun 00:00-24:00"});
}

function remove(parent, array, index) {
  const button = Object.assign(document.createElement("button"),
                               {type: "button", textContent: t["ru.remove"]});
  button.addEventListener("click", () => { array.splice(index, 1); refresh(); });
  parent.append(button);
}

function refresh() {
  list.replaceChildren();
  const row = (legend) => {
    const set = document.createElement("fieldset");
    set.append(Object.assign(document.createElement("legend"), {textContent: legend}));
    const div = Object.assign(document.createElement("div"), {className: "row"});
    set.append(div);
    list.append(set);
    return div;
  };
  rules.zones.forEach((zone, i) => {
    const r = row(`${t["ru.zone"]} ${i + 1}`);
    field(r, t["ru.name"], zone.name, v => { zone.name = v; });
    field(r, t["ru.dwell"], zone.dwell_seconds || "", v => { zone.dwell_seconds = Number(v) || 0; },
          {inputMode: "numeric", placeholder: "0"});
    schedule(r, zone);
    remove(r, rules.zones, i);
  });
  rules.tripwires.forEach((wire, i) => {
    const r = row(`${t["ru.line"]} ${i + 1}`);
    field(r, t["ru.name"], wire.name, v => { wire.name = v; });
    const wrap = Object.assign(document.createElement("label"), {textContent: t["ru.direction"]});
    const select = document.createElement("select");
    for (const way of ["both", "a_to_b", "b_to_a"]) {
      select.append(new Option(t[`ru.way.${way}`], way, false, (wire.direction || "both") === way));
    }
    select.addEventListener("change", () => { wire.direction = select.value; draw(); });
    wrap.append(select);
    r.append(wrap);
    schedule(r, wire);
    remove(r, rules.tripwires, i);
  });
  rules.masks.forEach((_, i) => remove(row(`${t["ru.mask"]} ${i + 1}`), rules.masks, i));
  draw();
}

function done() {
  const {kind, points} = drawing;
  const n = (rules[kind].length + 1);
  if (kind === "zones") rules.zones.push({name: `${t["ru.zone"]}${n}`, polygon: points});
  else if (kind === "tripwires") rules.tripwires.push({name: `${t["ru.line"]}${n}`, line: points, direction: "both"});
  else rules.masks.push(points);
  stop();
  refresh();
}

function stop() {
  drawing = null;
  finish.disabled = cancel.disabled = true;
  hint.textContent = "";
  draw();
}

for (const button of document.querySelectorAll("[data-draw]")) {
  button.addEventListener("click", () => {
    drawing = {kind: button.dataset.draw, points: []};
    cancel.disabled = false;
    finish.disabled = true;
    hint.textContent = t[button.dataset.draw === "tripwires" ? "ru.hint_line" : "ru.hint_area"];
    draw();
  });
}
finish.addEventListener("click", () => { if (drawing && drawing.points.length >= 3) done(); });
cancel.addEventListener("click", stop);

svg.addEventListener("pointerdown", event => {
  if (!drawing) return;
  drawing.points.push(fraction(event));
  if (drawing.kind === "tripwires" && drawing.points.length === 2) done();
  else { finish.disabled = drawing.points.length < 3; draw(); }
});
svg.addEventListener("pointermove", event => {
  if (!dragging) return;
  dragging.points[dragging.index] = fraction(event);
  draw();
});
svg.addEventListener("pointerup", () => { dragging = null; });

// the rules as drawn, to be saved ("") or tried ("/try"); the answer's JSON
async function send(what) {
  const answer = await post(`/rules/${stage.dataset.channel}${what}`, rules).catch(() => null);
  if (!answer) return {ok: false, problems: [t["ru.offline"]]};  // the box restarting
  return answer.json().catch(() => ({ok: false, problems: [`HTTP ${answer.status}`]}));
}

document.getElementById("save").addEventListener("click", async () => {
  const result = document.getElementById("result");
  const body = await send("");
  result.className = body.ok ? "banner ok" : "banner bad";
  result.replaceChildren(Object.assign(document.createElement("p"),
                                       {textContent: body.ok ? t["ru.saved"] : t["ru.refused"]}));
  for (const p of body.problems || []) result.append(Object.assign(document.createElement("p"), {className: "small", textContent: p}));
});

const picture = stage.querySelector("img");
function fit() {
  if (picture.naturalWidth) H = Math.round(S * picture.naturalHeight / picture.naturalWidth);
  svg.setAttribute("viewBox", `0 0 ${S} ${H}`);
  draw();
}
picture.addEventListener("load", fit);
if (picture.complete) fit();
document.getElementById("try").addEventListener("click", async () => {
  const out = document.getElementById("tried");
  const body = await send("/try");
  if (!body.ok) { out.textContent = (body.problems || []).join("; "); return; }
  const words = {a_to_b: "A→B", b_to_a: "B→A", loitering: t["ru.loitering"], parked: t["ru.parked"]};
  const found = Object.entries(body.found).map(([key, n]) => {
    const [rule, what] = [key.slice(0, key.lastIndexOf(" ")), key.slice(key.lastIndexOf(" ") + 1)];
    return `${rule} ${words[what] ?? what}: ${n}`;
  });
  out.textContent = `${t["ru.tried"].replace("{n}", body.objects)} ${found.length ? found.join(" · ") : t["ru.nothing"]}`;
});

refresh();
