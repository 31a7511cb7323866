// The embeddable player (/play/KEY): hls.js on Media Source Extensions with low-latency
// mode, or the browser's own HLS where there is no MSE (older iPhones). While the stream is
// offline (503/404 or ended) it shows the page's message and tries again every few seconds.
(function () {
  'use strict';
  var RETRY_MS = 3000;
  var video = document.getElementById('video');
  var offline = document.getElementById('offline');
  var unsupported = document.getElementById('unsupported');
  var src = video.getAttribute('data-src');
  var retry = null;

  function show(el, on) { el.hidden = !on; }
  function later(fn) {
    show(offline, true);
    clearTimeout(retry);
    retry = setTimeout(fn, RETRY_MS);
  }
  function play() {
    var p = video.play();
    // Autoplay refused (it should not be: muted): the controls let the viewer start it.
    if (p && p.catch) { p.catch(function () {}); }
  }
  video.addEventListener('playing', function () { show(offline, false); });

  var mse = window.MediaSource || window.ManagedMediaSource;
  var native = video.canPlayType('application/vnd.apple.mpegurl');
  if (!mse && native) {
    var start = function () { video.src = src; video.load(); play(); };
    video.addEventListener('error', function () { later(start); });
    video.addEventListener('ended', function () { later(start); });
    start();
    return;
  }
  if (!window.Hls || !window.Hls.isSupported()) {
    show(unsupported, true);
    return;
  }
  var Hls = window.Hls;
  var hls = null;
  function start() {
    if (hls) { hls.destroy(); }
    // Up to 1.5× speed to catch up with the target latency (PART-HOLD-BACK) after a stall,
    // instead of staying behind for the rest of the session; pitch is preserved.
    hls = new Hls({ lowLatencyMode: true, backBufferLength: 30, maxLiveSyncPlaybackRate: 1.5 });
    window.relevoPlayer = { hls: hls };
    hls.on(Hls.Events.MANIFEST_PARSED, function () { play(); });
    hls.on(Hls.Events.ERROR, function (_, data) {
      if (data.fatal) { later(start); }
    });
    hls.loadSource(src);
    hls.attachMedia(video);
  }
  // After the publisher's grace period the playlist ends (#EXT-X-ENDLIST): wait for the next.
  video.addEventListener('ended', function () { later(start); });
  start();
})();
