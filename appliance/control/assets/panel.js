// Relevo panel: the little JavaScript the server-rendered pages need. Every page works
// without it (forms post, links navigate); with it, the dashboard is live, values copy
// with one click, secrets reveal, the output form follows its preset, and live inputs
// show a preview while they are on screen.
"use strict";

(function () {
  const $ = (sel, root) => (root || document).querySelector(sel);
  const $$ = (sel, root) => Array.from((root || document).querySelectorAll(sel));
  const wordsEl = $("#words");
  const words = wordsEl ? JSON.parse(wordsEl.textContent) : {};
  const t = (key) => words[key] || key;
  const lang = document.documentElement.lang || "es";

  // ---- Small helpers used on every page --------------------------------------------

  document.addEventListener("click", (ev) => {
    const copy = ev.target.closest("button[data-copy]");
    if (copy) {
      const input = document.getElementById(copy.dataset.copy);
      if (!input) return;
      const done = () => {
        const old = copy.textContent;
        copy.textContent = t("common.copied");
        setTimeout(() => { copy.textContent = old; }, 1500);
      };
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, () => fallbackCopy(input, done));
      } else {
        fallbackCopy(input, done);
      }
      return;
    }
    const reveal = ev.target.closest("button[data-reveal]");
    if (reveal) {
      const input = document.getElementById(reveal.dataset.reveal);
      if (!input) return;
      const hidden = input.type === "password";
      input.type = hidden ? "text" : "password";
      reveal.textContent = hidden ? t("common.hide") : t("common.reveal");
      reveal.setAttribute("aria-pressed", hidden ? "true" : "false");
      return;
    }
    const gen = ev.target.closest("button[data-genkey]");
    if (gen) {
      const input = document.getElementById(gen.dataset.genkey);
      if (input) input.value = randomKey();
    }
  });

  // Plain-HTTP pages (no clipboard API): select and copy the old way.
  function fallbackCopy(input, done) {
    const type = input.type;
    input.type = "text";
    input.select();
    try { document.execCommand("copy"); done(); } catch (_) { /* leave it selected */ }
    input.type = type;
  }

  function randomKey() {
    const alphabet = "abcdefghijklmnopqrstuvwxyz234567";
    const bytes = new Uint8Array(20);
    crypto.getRandomValues(bytes);
    return Array.from(bytes, (b) => alphabet[b % 32]).join("");
  }

  document.addEventListener("submit", (ev) => {
    const form = ev.target;
    const question = form.dataset.confirm || (ev.submitter && ev.submitter.dataset.confirm);
    if (question && !window.confirm(question)) ev.preventDefault();
  });

  // The first admin's link carries its one-time token in the fragment (never sent to
  // servers or logs); the setup form posts it.
  const setupToken = $("#setup-token");
  if (setupToken && location.hash.startsWith("#token=")) {
    setupToken.value = decodeURIComponent(location.hash.slice(7));
    history.replaceState(null, "", location.pathname);
  }

  // SRT latency: a slider with its value beside it.
  $$("input[type=range]").forEach((range) => {
    const out = range.form && $("output[for='" + range.id + "']", range.form);
    if (out) range.addEventListener("input", () => { out.textContent = range.value; });
  });

  // Input form: show the fields of the chosen mode.
  const mode = $("select[data-toggle-mode]");
  if (mode) {
    const apply = () => $$("fieldset[data-mode]").forEach((fs) => {
      fs.hidden = fs.dataset.mode !== mode.value;
    });
    mode.addEventListener("change", apply);
    apply();
  }

  // Input form: the fields of the chosen backup source (none, second key, SRT or RTMP pull).
  const backup = $("select[data-toggle-backup]");
  if (backup) {
    const apply = () => $$("[data-backup]").forEach((el) => {
      el.hidden = !el.dataset.backup.split(" ").includes(backup.value);
    });
    backup.addEventListener("change", apply);
    apply();
  }

  // Output form: the preset decides the kind, and fills the server of a platform.
  const preset = $("select[data-presets]");
  if (preset) {
    const kind = $("#kind");
    const server = $("#server");
    const apply = (fill) => {
      const opt = preset.selectedOptions[0];
      kind.value = opt.dataset.kind;
      if (fill && opt.dataset.server) server.value = opt.dataset.server;
      $$("fieldset[data-kind]").forEach((fs) => {
        fs.hidden = !fs.dataset.kind.split(" ").includes(kind.value);
      });
    };
    preset.addEventListener("change", () => apply(true));
    apply(false);
  }

  // ---- Live dashboard ----------------------------------------------------------------

  const live = $("[data-live]");
  if (!live) return;

  const HISTORY = 300; // seconds of bit rate kept for the charts
  const rates = new Map(); // input name -> [bits per second], for the charts
  const banner = $("#conn");

  function fmtRate(bps) {
    const mbit = bps >= 1e6;
    const v = mbit ? bps / 1e6 : bps / 1e3;
    return v.toLocaleString(lang, { minimumFractionDigits: 2, maximumFractionDigits: 2 }) +
      (mbit ? " Mbit/s" : " kbit/s");
  }

  function fmtDuration(secs) {
    if (secs == null) return "–";
    secs = Math.floor(secs);
    const h = Math.floor(secs / 3600), m = Math.floor(secs / 60) % 60, s = secs % 60;
    const pad = (n) => String(n).padStart(2, "0");
    return (h > 0 ? h + ":" + pad(m) : m) + ":" + pad(s);
  }

  // The engine's errors are English sentences with a stable start; say them in the
  // panel's language, keeping the original as the tooltip.
  const ERRORS = [
    ["connection refused", "lasterr.refused"],
    ["connection timed out", "lasterr.timeout"],
    ["could not resolve host", "lasterr.resolve"],
    ["rejected by destination", "lasterr.rejected"],
    ["codec not accepted", "lasterr.codec"],
    ["TLS error", "lasterr.tls"],
    ["connected, but the destination did not answer", "lasterr.no_answer"],
    ["stalled", "lasterr.stalled"],
    ["connection closed by peer", "lasterr.closed"],
    ["protocol error", "lasterr.protocol"],
    ["I/O error", "lasterr.io"],
    ["refused: ", "lasterr.private"],
  ];
  function explain(message) {
    const hit = ERRORS.find(([start]) => message.startsWith(start));
    return hit ? t(hit[1]) : t("lasterr.other") + ": " + message;
  }

  function setState(el, state) {
    if (!el) return;
    el.className = "badge " + state;
    el.textContent = t("state." + state);
  }

  function setError(el, err, keep) {
    if (!el) return;
    if (err && keep) {
      el.hidden = false;
      el.textContent = t("live.last_error") + ": " + explain(err.message);
      el.title = err.message;
    } else {
      el.hidden = true;
    }
  }

  // ---- Codecs, pre-flight problems and the two feeds (issue #18) ----------------------
  // The same sentences as the server's (src/panel/compat.rs, feeds.rs), from the same words.

  function codecName(name) { return words["codec." + name] || String(name).toUpperCase(); }

  function codecsLine(c) {
    if (!c) return t("live.no_codecs");
    return (c.video ? codecName(c.video) : t("codec.no_video")) + " · " +
      (c.audio ? codecName(c.audio) : t("codec.no_audio"));
  }

  function compatText(p) {
    const names = (p.accepted || []).map(codecName);
    const accepted = names.length > 1
      ? names.slice(0, -1).join(", ") + " " + t("format.or") + " " + names[names.length - 1]
      : (names[0] || "");
    const tpl = words["compat." + p.code];
    if (!tpl) return t("compat.other") + ": " + p.message;
    return tpl.replace("{found}", codecName(p.found)).replace("{accepted}", accepted)
      .replace("{first}", names[0] || "");
  }

  function updateCompat(row, problems) {
    const tr = row.nextElementSibling;
    if (!tr || tr.dataset.compat !== row.dataset.output) return;
    const list = $("[data-f=compat]", tr);
    const key = JSON.stringify(problems);
    if (list.dataset.key === key) return; // unchanged: keep the text selectable
    list.dataset.key = key;
    list.replaceChildren(...problems.map((p) => {
      const li = document.createElement("li");
      li.className = p.severity;
      li.textContent = compatText(p);
      li.title = p.message;
      return li;
    }));
    tr.hidden = problems.length === 0;
  }

  // HH:MM:SS in the browser's time.
  function clock(at) {
    return new Date(at.secs_since_epoch * 1000).toLocaleTimeString(lang,
      { hour: "2-digit", minute: "2-digit", second: "2-digit", hour12: false });
  }

  function updateFeeds(card, snap) {
    const box = $("[data-feeds]", card);
    if (!box) return;
    const onAir = snap ? snap.on_air : null;
    $$("[data-feed]", box).forEach((row) => {
      const feed = row.dataset.feed;
      // The input's own figures are its main feed's; the backup has its own.
      const f = !snap ? null : feed === "main"
        ? { live: !!snap.publisher, publisher: snap.publisher, bitrate: snap.bitrate }
        : snap.backup;
      const live = !!(f && f.live);
      const state = $("[data-f=feed-state]", row);
      state.className = "badge " + (live ? "live" : "idle");
      state.textContent = t(live ? "feed.live" : "feed.no_signal");
      const pub = f && f.publisher;
      $("[data-f=feed-publisher]", row).textContent = pub
        ? pub.protocol.toUpperCase() + " " + pub.peer : t("live.no_publisher");
      $("[data-f=feed-bitrate]", row).textContent = fmtRate(f ? f.bitrate.last_1s : 0);
      const on = onAir === feed;
      row.classList.toggle("on-air", on);
      row.dataset.onAir = on ? "true" : "false";
      $("[data-f=onair]", row).hidden = !on;
      $("[data-f=since]", row).textContent = on && snap.on_air_since
        ? t("feed.since").replace("{time}", clock(snap.on_air_since)) : "";
      const sw = $("[data-f=switch]", row);
      // Offered for the feed off air, while one is on air (else there is nothing to switch).
      if (sw) sw.hidden = on || !onAir;
    });
    const last = snap && snap.last_switch;
    const line = $("[data-f=last-switch]", box);
    line.hidden = !last;
    if (last) {
      $("[data-f=switch-text]", line).textContent = t("feed.switch_text")
        .replace("{from}", t("feed." + last.from)).replace("{to}", t("feed." + last.to))
        .replace("{reason}", t("feed.reason_" + last.reason)).replace("{time}", clock(last.at));
    }
  }

  function drawChart(canvas, data) {
    const dpr = window.devicePixelRatio || 1;
    const w = canvas.clientWidth, h = canvas.clientHeight;
    if (!w || !h) return;
    if (canvas.width !== w * dpr) { canvas.width = w * dpr; canvas.height = h * dpr; }
    const ctx = canvas.getContext("2d");
    ctx.setTransform(dpr, 0, 0, dpr, 0, 0);
    ctx.clearRect(0, 0, w, h);
    const max = Math.max(1e5, ...data) * 1.15;
    const step = w / (HISTORY - 1);
    const x0 = w - (data.length - 1) * step;
    const brand = getComputedStyle(document.documentElement).getPropertyValue("--brand").trim() || "#0b6bcb";
    ctx.beginPath();
    data.forEach((v, i) => {
      const x = x0 + i * step, y = h - (v / max) * (h - 4) - 2;
      if (i === 0) ctx.moveTo(x, y); else ctx.lineTo(x, y);
    });
    ctx.strokeStyle = brand;
    ctx.lineWidth = 2;
    ctx.stroke();
    if (data.length > 1) {
      ctx.lineTo(w, h); ctx.lineTo(x0, h); ctx.closePath();
      ctx.globalAlpha = 0.12; ctx.fillStyle = brand; ctx.fill(); ctx.globalAlpha = 1;
    }
    ctx.fillStyle = "#5b6775";
    ctx.font = "11px system-ui, sans-serif";
    ctx.fillText(fmtRate(max / 1.15), 6, 12);
  }

  // ---- Live previews (LL-HLS from /preview/ID/, with the session cookie) ----------------
  // A preview plays only while its input is live, its video is on screen and the tab is
  // visible; otherwise the player is destroyed and the video emptied, so the server stops
  // muxing for it. hls.js (served by Relevo) is loaded the first time one starts.

  const previews = $$("video[data-preview]").map((video) => ({
    video,
    msg: video.parentElement.querySelector("[data-preview-msg]"),
    live: video.dataset.state === "live",
    visible: false,
    hls: null,
    run: 0, // bumped by every start and stop: a late callback of an old run does nothing
    playing: false,
    retry: null,
  }));
  let hlsScript = null;
  function loadHls() {
    if (!hlsScript) {
      hlsScript = new Promise((resolve) => {
        const s = document.createElement("script");
        s.src = "/assets/hls.light.min.js";
        s.onload = () => resolve(window.Hls || null);
        s.onerror = () => resolve(null);
        document.head.appendChild(s);
      });
    }
    return hlsScript;
  }
  function previewMsg(p, key) {
    if (!p.msg) return;
    p.msg.textContent = key ? t(key) : "";
    p.msg.hidden = !key;
  }
  function previewStart(p) {
    p.playing = true;
    const run = ++p.run;
    previewMsg(p, "live.preview_loading");
    loadHls().then((Hls) => {
      if (run !== p.run) return;
      const v = p.video;
      if (Hls && Hls.isSupported()) {
        // No worker: it would need a blob: script, which the panel's CSP does not allow.
        // Up to 1.5× speed to catch up with the target latency after a slow start.
        const hls = new Hls({
          lowLatencyMode: true, enableWorker: false, backBufferLength: 4, maxLiveSyncPlaybackRate: 1.5,
        });
        p.hls = hls;
        hls.on(Hls.Events.ERROR, (_, data) => {
          if (!data.fatal || run !== p.run) return;
          // The input may have just gone: start again in a moment if it is still live.
          previewStop(p);
          previewMsg(p, "live.preview_loading");
          p.retry = setTimeout(() => { p.retry = null; syncPreview(p); }, 3000);
        });
        hls.loadSource(v.dataset.preview);
        hls.attachMedia(v);
      } else if (v.canPlayType("application/vnd.apple.mpegurl")) {
        v.src = v.dataset.preview;
      } else {
        previewMsg(p, "live.preview_error");
        return;
      }
      v.play().catch(() => { /* muted autoplay may still wait for the data */ });
    });
  }
  function previewStop(p) {
    p.playing = false;
    p.run += 1;
    if (p.retry) { clearTimeout(p.retry); p.retry = null; }
    if (p.hls) { p.hls.destroy(); p.hls = null; }
    const v = p.video;
    v.pause();
    if (v.hasAttribute("src")) { v.removeAttribute("src"); v.load(); }
  }
  function syncPreview(p) {
    const want = p.live && p.visible && !document.hidden;
    if (want && !p.playing && !p.retry) previewStart(p);
    else if (!want && (p.playing || p.retry)) previewStop(p);
    if (!p.live) previewMsg(p, "live.preview_offline");
  }
  previews.forEach((p) => {
    p.video.addEventListener("playing", () => { if (p.playing) previewMsg(p, null); });
    // How far behind live the picture is: now minus the wall-clock time of the frame on
    // screen (the playlist's EXT-X-PROGRAM-DATE-TIME is when it reached Relevo).
    const out = p.video.parentElement.parentElement.querySelector("[data-preview-latency]");
    if (!out) return;
    p.video.addEventListener("timeupdate", () => {
      const at = p.hls && p.hls.playingDate;
      if (!p.playing || !at) { out.hidden = true; return; }
      const secs = Math.max(0, (Date.now() - at.getTime()) / 1000);
      out.hidden = false;
      out.dataset.seconds = secs.toFixed(2);
      out.textContent = t("live.preview_latency") + ": " +
        secs.toLocaleString(lang, { minimumFractionDigits: 1, maximumFractionDigits: 1 }) + " s";
    });
  });
  if (previews.length) {
    const seen = new IntersectionObserver((entries) => {
      entries.forEach((e) => {
        const p = previews.find((x) => x.video === e.target);
        if (p) { p.visible = e.isIntersecting; syncPreview(p); }
      });
    });
    previews.forEach((p) => seen.observe(p.video));
    document.addEventListener("visibilitychange", () => previews.forEach(syncPreview));
  }
  function updatePreviews(byName) {
    previews.forEach((p) => {
      const snap = byName.get(p.video.dataset.previewInput);
      // A publisher blip (the grace period, "waiting") keeps a running preview: the
      // playlist goes on and resumes with the publisher. Nothing starts while waiting.
      const state = snap ? snap.state : "idle";
      const live = state === "live" || (state === "waiting" && p.live);
      p.video.dataset.state = state;
      if (live !== p.live) { p.live = live; syncPreview(p); }
    });
  }

  function update(snapshot) {
    const byName = new Map(snapshot.inputs.map((i) => [i.name, i]));
    updatePreviews(byName);
    $$("[data-input]", live).forEach((card) => {
      const snap = byName.get(card.dataset.input);
      const state = snap ? snap.state : (card.dataset.state === "stopped" ? "stopped" : "idle");
      card.dataset.state = state;
      setState($("[data-f=state]", card), state);
      const rate = snap ? snap.bitrate.last_1s : 0;
      $("[data-f=bitrate]", card).textContent = fmtRate(rate);
      const pub = snap && snap.publisher;
      $("[data-f=publisher]", card).textContent = pub
        ? pub.protocol.toUpperCase() + " " + pub.peer : t("live.no_publisher");
      const link = snap && snap.srt;
      $("[data-f=link]", card).textContent = link
        ? t("live.rtt") + " " + link.rtt_ms.toFixed(1) + " ms · " + t("live.loss") + " " + link.packets_lost
        : "–";
      $("[data-f=uptime]", card).textContent = fmtDuration(snap && snap.uptime_secs);
      $("[data-f=codecs]", card).textContent = codecsLine(snap && snap.codecs);
      updateFeeds(card, snap);
      setError($(":scope > [data-f=error]", card), snap && snap.last_error, state !== "live");

      let h = rates.get(card.dataset.input);
      if (!h) { h = []; rates.set(card.dataset.input, h); }
      h.push(rate);
      if (h.length > HISTORY) h.shift();
      const canvas = $("canvas[data-chart]", card);
      if (canvas) drawChart(canvas, h);

      const outs = new Map((snap ? snap.outputs : []).map((o) => [o.name, o]));
      $$("tr[data-output]", card).forEach((row) => {
        const o = outs.get(row.dataset.output);
        const ostate = o ? o.state : "stopped";
        setState($("[data-f=state]", row), ostate);
        $("[data-f=bitrate]", row).textContent = fmtRate(o ? o.bitrate.last_1s : 0);
        $("[data-f=reconnects]", row).textContent = o ? o.reconnects : 0;
        const peers = $("[data-f=peers]", row);
        peers.textContent = o ? o.peers : 0;
        // Who reads a pull output, and from where.
        peers.title = o ? o.connections.map((c) => c.protocol.toUpperCase() + " " + c.addr).join("\n") : "";
        setError($("[data-f=error]", row), o && o.last_error, ostate !== "live");
        updateCompat(row, o ? o.compat || [] : []);
      });
    });
  }

  // Follows /api/v1/events with the session cookie; a lost connection is shown and retried
  // with a growing pause (1 s up to 10 s). Close code 4001 means the session ended.
  let delay = 1000;
  function connect() {
    const ws = new WebSocket((location.protocol === "https:" ? "wss://" : "ws://") + location.host + "/api/v1/events");
    ws.onopen = () => { delay = 1000; banner.hidden = true; document.body.dataset.live = "connected"; };
    ws.onmessage = (ev) => {
      const msg = JSON.parse(ev.data);
      if (msg.type === "snapshot") update(msg);
    };
    ws.onclose = (ev) => {
      document.body.dataset.live = "lost";
      // Without the server's word nothing is known to be live: previews stop until the
      // next snapshot (a restarted Relevo has new sessions; the old files are gone).
      previews.forEach((p) => { p.live = false; syncPreview(p); });
      if (ev.code === 4001) { location.reload(); return; }
      banner.hidden = false;
      // A refused upgrade looks like any lost connection: ask whether the session ended.
      fetch("/api/v1/me", { credentials: "same-origin" }).then((r) => {
        if (r.status === 401) location.reload();
      }, () => {});
      setTimeout(connect, delay);
      delay = Math.min(delay * 2, 10000);
    };
  }
  connect();
  window.addEventListener("resize", () => {
    $$("[data-input]", live).forEach((card) => {
      const canvas = $("canvas[data-chart]", card);
      const h = rates.get(card.dataset.input);
      if (canvas && h) drawChart(canvas, h);
    });
  });
})();
