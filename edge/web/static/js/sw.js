// The box's service worker: an alert pushed by the box (edge/alerts/webpush.py) shown as a
// notification; a tap opens the event's playback. The payload is edge/alerts/formats.py's
// push_payload: {title, body, url, tag, ts}.
self.addEventListener("push", (event) => {
  let alert = {};
  try {
    alert = event.data ? event.data.json() : {};
  } catch (_) {
    alert = {body: event.data ? event.data.text() : ""};
  }
  const title = alert.title || "告警 Alert";
  event.waitUntil(self.registration.showNotification(title, {
    body: alert.body || "",
    tag: alert.tag || undefined,  // a retried alert replaces its first copy
    renotify: Boolean(alert.tag),
    requireInteraction: true,  // stays until the duty officer has seen it
    icon: "/static/icon.svg",
    timestamp: alert.ts ? alert.ts * 1000 : Date.now(),
    data: {url: alert.url || "/events"},
  }));
});

self.addEventListener("notificationclick", (event) => {
  event.notification.close();
  event.waitUntil(self.clients.openWindow(event.notification.data.url));
});
