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
