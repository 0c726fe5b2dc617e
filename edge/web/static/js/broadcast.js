// 广播: push-to-talk from the microphone to the chosen loudspeakers, and the chosen
// speakers added to the play/schedule forms.
import {messages} from "./common.js";
import {PushToTalk, micAllowed} from "./talk.js";

const t = messages();
const button = document.getElementById("talk");
const state = document.getElementById("talk-state");

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

if (micAllowed()) {
  new PushToTalk(button, {speakers: chosen, say: text => { state.textContent = text || t["bc.talk_help"]; }, t});
} else {
  document.getElementById("mic-blocked").hidden = false;
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
