// Fragmented MP4 from a streamed HTTP response into Media Source Extensions.
// Shared by live view and playback. Appends in order, trims what is far behind, and for
// live keeps the picture at the live edge; for playback it jumps over holes in footage.

// Video keyframe times out of our own fragments (edge/stream/fmp4.py writes one fixed
// 100-byte moof per frame: tfhd track id at 44, tfdt time at 60, trun sample flags at 96).
export class KeyframeScanner {
  constructor() { this.pending = new Uint8Array(0); this.times = []; }

  feed(chunk) {
    const data = new Uint8Array(this.pending.length + chunk.length);
    data.set(this.pending); data.set(chunk, this.pending.length);
    let at = 0;
    while (data.length - at >= 8) {
      const view = new DataView(data.buffer, data.byteOffset + at);
      const size = view.getUint32(0);
      if (size < 8 || data.length - at < Math.min(size, 100)) break;
      const type = String.fromCharCode(...data.subarray(at + 4, at + 8));
      if (type === "moof" && size === 100 && view.getUint32(44) === 1
          && view.getUint32(96) === 0x02000000) {
        this.times.push(Number(view.getBigUint64(60)) / 90000);
      }
      if (data.length - at < size) break;
      at += size;
    }
    this.pending = data.slice(at);
  }

  next(t) { return this.times.find((k) => k > t + 0.02); }
  previous(t) { return [...this.times].reverse().find((k) => k < t - 0.02); }
}

export class MsePlayer {
  constructor(video, {live = true, onState = () => {}} = {}) {
    this.video = video;
    this.live = live;
    this.onState = onState;
    this.abort = null;
    this.keyframes = new KeyframeScanner();
  }

  // Resolves with the response headers once playing starts; rejects with a reason.
  async play(url) {
    this.stop();
    this.keyframes = new KeyframeScanner();
    const abort = new AbortController();
    this.abort = abort;
    const response = await fetch(url, {signal: abort.signal, cache: "no-store"});
    if (!response.ok) {
      let reason = response.statusText;
      try { reason = (await response.json()).error || reason; } catch (e) { /* not JSON */ }
      throw new Error(reason);
    }
    const codecs = response.headers.get("X-Codecs");
    const type = `video/mp4; codecs="${codecs}"`;
    if (!window.MediaSource || !MediaSource.isTypeSupported(type)) {
      abort.abort();
      const err = new Error("unsupported");
      err.unsupported = true;
      err.video = response.headers.get("X-Video");
      throw err;
    }
    const source = new MediaSource();
    this.video.src = URL.createObjectURL(source);
    await new Promise((resolve) => source.addEventListener("sourceopen", resolve, {once: true}));
    const buffer = source.addSourceBuffer(type);
    this.pump(response.body.getReader(), buffer, abort.signal).catch(() => {});
    this.video.play().catch(() => {});
    return response.headers;
  }

  async pump(reader, buffer, signal) {
    const queue = [];
    let done = false;
    const append = () => {
      if (buffer.updating || !queue.length || signal.aborted) return;
      try { buffer.appendBuffer(queue.shift()); } catch (err) { this.trim(buffer, true); }
    };
    buffer.addEventListener("updateend", () => { this.keepUp(buffer); append(); });
    while (!done && !signal.aborted) {
      const chunk = await reader.read();
      done = chunk.done;
      if (chunk.value) {
        if (!this.live) this.keyframes.feed(chunk.value);
        queue.push(chunk.value);
        append();
      }
      if (!this.live) await this.waitWhileAhead(buffer, signal);
    }
    if (!signal.aborted) this.onState("ended");
  }

  // playback: read no further than ~60 s ahead of what is shown
  async waitWhileAhead(buffer, signal) {
    while (!signal.aborted && buffer.buffered.length &&
           buffer.buffered.end(buffer.buffered.length - 1) - this.video.currentTime > 60) {
      await new Promise((r) => setTimeout(r, 500));
    }
  }

  keepUp(buffer) {
    const ranges = buffer.buffered;
    if (!ranges.length) return;
    const end = ranges.end(ranges.length - 1);
    const now = this.video.currentTime;
    if (this.live) {
      if (end - now > 2.5 || now < ranges.start(0)) this.video.currentTime = Math.max(0, end - 0.3);
    } else {
      for (let i = 0; i < ranges.length; i++) {  // a hole in the footage: go on after it
        if (now < ranges.start(i) && (i === 0 || now >= ranges.end(i - 1) - 0.1)) {
          this.video.currentTime = ranges.start(i);
          break;
        }
      }
    }
    this.trim(buffer, false);
  }

  trim(buffer, hard) {
    const ranges = buffer.buffered;
    if (!ranges.length || buffer.updating) return;
    const keep = hard ? 5 : 30;
    const start = ranges.start(0);
    if (this.video.currentTime - start > keep) {
      try { buffer.remove(start, this.video.currentTime - keep); } catch (e) { /* busy */ }
    }
  }

  stop() {
    if (this.abort) this.abort.abort();
    this.abort = null;
    if (this.video.src) { URL.revokeObjectURL(this.video.src); this.video.removeAttribute("src"); this.video.load(); }
  }
}
