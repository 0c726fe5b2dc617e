// 广播: push-to-talk from the microphone to the chosen loudspeakers (16-bit mono PCM at
// 8 kHz, POSTed every 200 ms), and the chosen speakers added to the play/schedule forms.
import {csrf, messages, post} from "./common.js";

const t = messages();
const button = document.getElementById("talk");
const state = document.getElementById("talk-state");
const RATE = 8000;
const SEND_MS = 200;

function chosen() {
  return [...document.querySelectorAll('input[name="speaker"]:checked')].map(b => b.value);
}

// the play and schedule forms take the speakers ticked at the top
for (const form of document.querySelectorAll("form[data-with-speakers]")) {
  form.addEventListener("submit", () => {
    for (const old of form.querySelectorAll('input[data-added]')) old.remove();
    for (const id of chosen()) {
      const field = Object.assign(document.createElement("input"),
                                  {type: "hidden", name: "speaker", value: id});
      field.dataset.added = "1";
      form.append(field);
    }
  });
}

let talk = null;  // {token, context, stream, node, pending: Int16Array[], timer}
let held = false;  // the button is down (it may be let go before the microphone is open)

// a box filter down to 8 kHz: speech needs nothing finer
function downsample(input, rate) {
  const step = rate / RATE;
  const out = new Int16Array(Math.floor(input.length / step));
  for (let i = 0; i < out.length; i++) {
    const from = Math.floor(i * step), to = Math.min(input.length, Math.floor((i + 1) * step));
    let sum = 0;
    for (let j = from; j < to; j++) sum += input[j];
    const v = sum / Math.max(1, to - from);
    out[i] = Math.max(-32768, Math.min(32767, Math.round(v * 32767)));
  }
  return out;
}

async function flush() {
  if (!talk || !talk.pending.length) return;
  const total = talk.pending.reduce((n, a) => n + a.length, 0);
  const body = new Int16Array(total);
  let at = 0;
  for (const a of talk.pending) { body.set(a, at); at += a.length; }
  talk.pending = [];
  const res = await fetch(`/api/broadcast/talk/${talk.token}`, {method: "POST",
    headers: {"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"}, body});
  if (!res.ok) {
    state.textContent = t["bc.talk_ended"];
    await stop(false);
  }
}

async function start() {
  if (talk) return;
  const speakers = chosen();
  if (!speakers.length) { state.textContent = t["bc.choose"]; return; }
  let stream;
  try {
    stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1,
      echoCancellation: true, noiseSuppression: true}});
  } catch (err) {
    state.textContent = `${t["bc.mic_denied"]} (${err.name})`;
    return;
  }
  const res = await post("/api/broadcast/talk", {speakers});
  const reply = await res.json().catch(() => ({}));
  if (!res.ok) {
    stream.getTracks().forEach(tr => tr.stop());
    state.textContent = `${t["bc.refused"]} ${reply.error ?? res.status}`;
    return;
  }
  const context = new AudioContext();
  const source = context.createMediaStreamSource(stream);
  const node = context.createScriptProcessor(4096, 1, 1);
  talk = {token: reply.token, context, stream, node, pending: []};
  node.onaudioprocess = e => {
    if (talk) talk.pending.push(downsample(e.inputBuffer.getChannelData(0), context.sampleRate));
  };
  source.connect(node);
  node.connect(context.destination);  // a processor only runs when it leads somewhere
  talk.timer = setInterval(flush, SEND_MS);
  button.classList.add("on");
  state.textContent = `${t["bc.talking"]} ${reply.speakers.length}`;
  if (!held) await stop();
}

async function stop(sendEnd = true) {
  if (!talk) return;
  const ending = talk;
  clearInterval(ending.timer);
  await flush();
  talk = null;
  ending.node.disconnect();
  ending.stream.getTracks().forEach(tr => tr.stop());
  await ending.context.close();
  button.classList.remove("on");
  if (sendEnd) await post(`/api/broadcast/talk/${ending.token}/end`);
  if (sendEnd) state.textContent = t["bc.talk_help"];
}

if (!window.isSecureContext || !navigator.mediaDevices) {
  document.getElementById("mic-blocked").hidden = false;
} else {
  button.disabled = false;
  const down = () => { held = true; start(); };
  const up = () => { held = false; stop(); };
  button.addEventListener("pointerdown", e => { e.preventDefault(); down(); });
  for (const ev of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(ev, up);
  button.addEventListener("keydown", e => { if (e.key === " " && !e.repeat) down(); });
  button.addEventListener("keyup", e => { if (e.key === " ") up(); });
}

// who holds each speaker, every 3 s
setInterval(async () => {
  const res = await fetch("/api/broadcast/status");
  if (!res.ok) return;
  const reply = await res.json();
  for (const s of reply.speakers ?? []) {
    const el = document.querySelector(`[data-speaker="${s.id}"]`);
    if (!el) continue;
    el.textContent = s.busy_with ? `${t["bc.busy"]} ${s.busy_with}` : t["bc.idle"];
    el.className = s.busy_with ? "warn" : "ok";
  }
}, 3000);
