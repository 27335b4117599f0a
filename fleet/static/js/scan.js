// Label scanner (templates/labels/audit.html and scan.html): opens the camera, decodes QR codes
// with the vendored jsQR (fleet/static/vendor/jsqr), and posts each new code to the fleet API
// with the CSRF token in the X-CSRFToken header.
//   data-mode="audit":   every distinct code -> POST data-scan-url {text}; counts updated.
//   data-mode="custody": a code -> POST data-lookup-url; then check out to a holder or confirm
//                        check-in (data-checkout-url / data-checkin-url).
(function () {
  "use strict";

  var REPEAT_MS = 4000;  // the same code seen again within this time is ignored

  function init() {
    var app = document.getElementById("scan-app");
    var video = document.getElementById("scan-video");
    if (!app || !video) { return; }
    var canvas = document.getElementById("scan-canvas");
    var ctx = canvas.getContext("2d", { willReadFrequently: true });
    var status = document.getElementById("scan-status");
    var log = document.getElementById("scan-log");
    var stream = null;
    var lastSeen = {};
    var busy = false;
    var current = null;  // custody mode: the scanned text being acted on

    function post(url, body) {
      return fetch(url, {
        method: "POST", credentials: "same-origin",
        headers: { "Content-Type": "application/json", "Accept": "application/json",
                   "X-CSRFToken": app.dataset.csrf },
        body: JSON.stringify(body)
      }).then(function (resp) {
        return resp.json().then(function (data) { return { ok: resp.ok, data: data }; });
      });
    }

    function addLog(cls, text) {
      var li = document.createElement("li");
      li.className = cls;
      li.textContent = text;
      log.insertBefore(li, log.firstChild);
    }

    function errorText(res) {
      return (res.data && res.data.error && res.data.error.message) || "error";
    }

    function setCounts(counts) {
      Object.keys(counts).forEach(function (k) {
        var el = document.getElementById("count-" + (k === "not_fleet" ? "unknown" : k));
        if (!el) { return; }
        el.textContent = k === "unknown" || k === "not_fleet"
          ? String((counts.unknown || 0) + (counts.not_fleet || 0)) : String(counts[k]);
      });
    }

    function onAuditCode(text) {
      busy = true;
      post(app.dataset.scanUrl, { text: text }).then(function (res) {
        if (!res.ok) { addLog("unknown", errorText(res)); return; }
        setCounts(res.data.counts);
        if (res.data.new) {
          addLog(res.data.entry.outcome, res.data.entry.outcome + " · " +
                 (res.data.entry.asset_tag || res.data.entry.raw));
          var missing = document.querySelector('#missing-list li[data-tag="' +
                                                (res.data.entry.asset_tag || "") + '"]');
          if (missing && res.data.entry.outcome === "present") { missing.remove(); }
        }
        status.textContent = (res.data.entry.asset_tag || res.data.entry.raw) + ": " +
                             res.data.entry.outcome;
      }).catch(function (err) { addLog("unknown", String(err)); })
        .then(function () { busy = false; });
    }

    function showDevice(dev) {
      document.getElementById("scan-device").hidden = false;
      document.getElementById("scan-device-tag").textContent = dev.asset_tag;
      document.getElementById("scan-device-info").textContent =
        dev.model + " · " + dev.status + (dev.holder ? " · " + dev.holder : "");
      document.getElementById("scan-checkout").hidden = dev.checked_out;
      document.getElementById("scan-checkin").hidden = !dev.checked_out;
    }

    function onCustodyCode(text) {
      if (current === text) { return; }
      busy = true;
      post(app.dataset.lookupUrl, { text: text }).then(function (res) {
        if (!res.ok) { addLog("unknown", errorText(res)); current = null; return; }
        current = text;
        showDevice(res.data);
        status.textContent = res.data.asset_tag;
      }).catch(function (err) { addLog("unknown", String(err)); })
        .then(function () { busy = false; });
    }

    function custodyAction(url, body, label) {
      if (!current) { return; }
      body.text = current;
      post(url, body).then(function (res) {
        if (!res.ok) { addLog("unknown", errorText(res)); return; }
        addLog("present", label + " · " + res.data.asset_tag + " · " + res.data.status);
        showDevice(res.data);
        current = null;
        document.getElementById("scan-device").hidden = true;
      });
    }

    if (app.dataset.mode === "custody") {
      document.getElementById("scan-checkout-button").addEventListener("click", function () {
        var holder = document.getElementById("scan-holder").value;
        if (!holder) { return; }
        custodyAction(app.dataset.checkoutUrl, { holder_id: parseInt(holder, 10) },
                      this.textContent);
      });
      document.getElementById("scan-checkin-button").addEventListener("click", function () {
        custodyAction(app.dataset.checkinUrl,
                      { condition: document.getElementById("scan-condition").value },
                      this.textContent);
      });
    }

    function tick() {
      if (!stream) { return; }
      if (!busy && video.readyState >= 2 && video.videoWidth) {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        ctx.drawImage(video, 0, 0, canvas.width, canvas.height);
        var img = ctx.getImageData(0, 0, canvas.width, canvas.height);
        var code = window.jsQR(img.data, img.width, img.height, { inversionAttempts: "dontInvert" });
        if (code && code.data) {
          var now = Date.now();
          if (!lastSeen[code.data] || now - lastSeen[code.data] > REPEAT_MS) {
            lastSeen[code.data] = now;
            if (app.dataset.mode === "audit") { onAuditCode(code.data); }
            else { onCustodyCode(code.data); }
          }
        }
      }
      window.requestAnimationFrame(tick);
    }

    function start() {
      if (stream) { return; }
      if (!navigator.mediaDevices || !navigator.mediaDevices.getUserMedia) {
        status.textContent = app.dataset.msgNoCamera || "This browser cannot open the camera.";
        return;
      }
      navigator.mediaDevices.getUserMedia({ video: { facingMode: "environment" }, audio: false })
        .then(function (s) {
          stream = s;
          video.srcObject = s;
          return video.play();
        }).then(function () {
          status.textContent = app.dataset.msgScanning || "Scanning…";
          app.dataset.scanning = "true";
          window.requestAnimationFrame(tick);
        }).catch(function (err) { status.textContent = String(err); });
    }

    function stop() {
      if (!stream) { return; }
      stream.getTracks().forEach(function (t) { t.stop(); });
      stream = null;
      app.dataset.scanning = "false";
      status.textContent = app.dataset.msgOff || "Camera off.";
    }

    document.getElementById("scan-start").addEventListener("click", start);
    document.getElementById("scan-stop").addEventListener("click", stop);
  }

  document.addEventListener("DOMContentLoaded", init);
}());
