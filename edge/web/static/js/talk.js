// Push-to-talk: while the button is held, the browser's microphone goes to loudspeakers
// as 16-bit mono PCM at 8 kHz, POSTed every 200 ms (the 广播 page and the live tiles).
import {csrf, post} from "./common.js";

const RATE = 8000;
const SEND_MS = 200;

// the browser gives the microphone only to HTTPS or localhost pages
export const micAllowed = () => Boolean(window.isSecureContext && navigator.mediaDevices);

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

// ``speakers()``: the IDs to speak through now; ``say(text)``: the state for the user
// ("" once a talk has ended)
export class PushToTalk {
  constructor(button, {speakers, say, t}) {
    Object.assign(this, {button, speakers, say, t});
    this.talk = null;  // {token, context, stream, node, pending: Int16Array[], timer}
    this.held = false;  // the button is down (it may be let go before the microphone is open)
    button.disabled = false;
    const down = () => { this.held = true; this.start(); };
    const up = () => { this.held = false; this.stop(); };
    button.addEventListener("pointerdown", e => { e.preventDefault(); down(); });
    for (const ev of ["pointerup", "pointerleave", "pointercancel"]) button.addEventListener(ev, up);
    button.addEventListener("keydown", e => { if (e.key === " " && !e.repeat) down(); });
    button.addEventListener("keyup", e => { if (e.key === " ") up(); });
  }

  async flush() {
    const talk = this.talk;
    if (!talk || !talk.pending.length) return;
    const total = talk.pending.reduce((n, a) => n + a.length, 0);
    const body = new Int16Array(total);
    let at = 0;
    for (const a of talk.pending) { body.set(a, at); at += a.length; }
    talk.pending = [];
    const res = await fetch(`/api/broadcast/talk/${talk.token}`, {method: "POST",
      headers: {"X-CSRF-Token": csrf, "Content-Type": "application/octet-stream"}, body});
    if (!res.ok) {
      this.say(this.t["bc.talk_ended"]);
      await this.stop(false);
    }
  }

  async start() {
    if (this.talk) return;
    const speakers = this.speakers();
    if (!speakers.length) { this.say(this.t["bc.choose"]); return; }
    let stream;
    try {
      stream = await navigator.mediaDevices.getUserMedia({audio: {channelCount: 1,
        echoCancellation: true, noiseSuppression: true}});
    } catch (err) {
      this.say(`${this.t["bc.mic_denied"]} (${err.name})`);
      return;
    }
    const res = await post("/api/broadcast/talk", {speakers});
    const reply = await res.json().catch(() => ({}));
    if (!res.ok) {
      stream.getTracks().forEach(tr => tr.stop());
      this.say(`${this.t["bc.refused"]} ${reply.error ?? res.status}`);
      return;
    }
    const context = new AudioContext();
    const source = context.createMediaStreamSource(stream);
    const node = context.createScriptProcessor(4096, 1, 1);
    const talk = {token: reply.token, context, stream, node, pending: []};
    this.talk = talk;
    node.onaudioprocess = e => {
      talk.pending.push(downsample(e.inputBuffer.getChannelData(0), context.sampleRate));
    };
    source.connect(node);
    node.connect(context.destination);  // a processor only runs when it leads somewhere
    talk.timer = setInterval(() => this.flush(), SEND_MS);
    this.button.classList.add("on");
    this.say(`${this.t["bc.talking"]} ${reply.speakers.length}`);
    if (!this.held) await this.stop();
  }

  async stop(sendEnd = true) {
    const ending = this.talk;
    if (!ending) return;
    clearInterval(ending.timer);
    await this.flush();
    this.talk = null;
    ending.node.disconnect();
    ending.stream.getTracks().forEach(tr => tr.stop());
    await ending.context.close();
    this.button.classList.remove("on");
    if (sendEnd) {
      await post(`/api/broadcast/talk/${ending.token}/end`);
      this.say("");
    }
  }
}
