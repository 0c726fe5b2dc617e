// Alerts on this device: register the box's service worker, subscribe this browser to the
// box's pushes (the box's VAPID key), or stop. Push needs a secure context: HTTPS, or the
// box opened as localhost.
import {messages, post} from "./common.js";

const t = messages();
const state = document.getElementById("push-state");
const on = document.getElementById("push-on");
const off = document.getElementById("push-off");

function say(key, detail = "") {
  state.textContent = (t[key] || key) + (detail ? ` (${detail})` : "");
}

function keyBytes(text) {
  const raw = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "=".repeat((4 - text.length % 4) % 4));
  return Uint8Array.from(raw, (c) => c.charCodeAt(0));
}

async function current() {
  const registration = await navigator.serviceWorker.register("/sw.js", {scope: "/"});
  await navigator.serviceWorker.ready;
  return [registration, await registration.pushManager.getSubscription()];
}

async function start() {
  on.disabled = true;
  try {
    if (await Notification.requestPermission() !== "granted") {
      say("push.denied");
      return;
    }
    const [registration] = await current();
    const {key} = await (await fetch("/push/key")).json();
    let subscription;
    try {
      subscription = await registration.pushManager.subscribe(
        {userVisibleOnly: true, applicationServerKey: keyBytes(key)});
    } catch (error) {
      say("push.no_service", error.message);
      return;
    }
    const answer = await post("/push/subscribe", subscription.toJSON());
    if (answer.ok) location.reload();
    else say("push.refused", String(answer.status));
  } finally {
    on.disabled = false;
  }
}

async function stop() {
  const [, subscription] = await current();
  if (subscription) {
    await post("/push/unsubscribe", {endpoint: subscription.endpoint});
    await subscription.unsubscribe();
  }
  location.reload();
}

// a device listed (a lost phone, an old browser): forgotten by the box
for (const button of document.querySelectorAll("button[data-endpoint]")) {
  button.addEventListener("click", async () => {
    await post("/push/unsubscribe", {endpoint: button.dataset.endpoint});
    location.reload();
  });
}

if (!window.isSecureContext || !("serviceWorker" in navigator) || !("PushManager" in window)) {
  say("push.insecure");
  on.disabled = true;
} else {
  current().then(([, subscription]) => {
    say(subscription ? "push.this_on" : "push.this_off");
    off.hidden = !subscription;
  }).catch((error) => say("push.no_worker", error.message));
  on.addEventListener("click", start);
  off.addEventListener("click", stop);
}
