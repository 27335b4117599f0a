// Signature pad for the in-person signing page (templates/agreements/sign.html).
// Captures pointer events (mouse, pen, finger), with touch and mouse fallbacks for browsers
// without Pointer Events; posts the drawing as a PNG data URL together with the SHA-256 of the
// terms text the page showed, with the CSRF token in the X-CSRFToken header.
(function () {
  "use strict";

  function init() {
    var form = document.getElementById("signature-form");
    var canvas = document.getElementById("signature-pad");
    if (!form || !canvas) { return; }
    var ctx = canvas.getContext("2d");
    var message = document.getElementById("signature-message");
    var drawing = false;
    var strokes = 0;
    var last = null;

    function reset() {
      ctx.fillStyle = "#ffffff";
      ctx.fillRect(0, 0, canvas.width, canvas.height);
      ctx.fillStyle = "#000000";
      ctx.strokeStyle = "#000000";
      ctx.lineWidth = 3;
      ctx.lineCap = "round";
      ctx.lineJoin = "round";
      strokes = 0;
    }

    // Map client coordinates to canvas pixels (the canvas is scaled by CSS).
    function point(clientX, clientY) {
      var r = canvas.getBoundingClientRect();
      return { x: (clientX - r.left) * canvas.width / r.width,
               y: (clientY - r.top) * canvas.height / r.height };
    }

    function start(p) { drawing = true; last = p; message.textContent = ""; ctx.beginPath(); ctx.arc(p.x, p.y, 1.2, 0, 2 * Math.PI); ctx.fill(); }
    function move(p) {
      if (!drawing) { return; }
      ctx.beginPath(); ctx.moveTo(last.x, last.y); ctx.lineTo(p.x, p.y); ctx.stroke();
      last = p; strokes += 1;
    }
    function end() { drawing = false; last = null; }

    if (window.PointerEvent) {
      canvas.addEventListener("pointerdown", function (ev) {
        ev.preventDefault(); canvas.setPointerCapture(ev.pointerId);
        start(point(ev.clientX, ev.clientY));
      });
      canvas.addEventListener("pointermove", function (ev) { ev.preventDefault(); move(point(ev.clientX, ev.clientY)); });
      canvas.addEventListener("pointerup", end);
      canvas.addEventListener("pointercancel", end);
    } else {
      canvas.addEventListener("touchstart", function (ev) {
        ev.preventDefault(); var t = ev.touches[0]; start(point(t.clientX, t.clientY));
      }, { passive: false });
      canvas.addEventListener("touchmove", function (ev) {
        ev.preventDefault(); var t = ev.touches[0]; move(point(t.clientX, t.clientY));
      }, { passive: false });
      canvas.addEventListener("touchend", end);
      canvas.addEventListener("mousedown", function (ev) { start(point(ev.clientX, ev.clientY)); });
      canvas.addEventListener("mousemove", function (ev) { move(point(ev.clientX, ev.clientY)); });
      window.addEventListener("mouseup", end);
    }

    document.getElementById("signature-clear").addEventListener("click", function () {
      reset(); message.textContent = "";
    });

    form.addEventListener("submit", function (ev) {
      ev.preventDefault();
      if (strokes < 3) { message.textContent = form.dataset.emptyMessage || "Please sign in the box first."; return; }
      var button = document.getElementById("signature-submit");
      button.disabled = true;
      fetch(form.dataset.endpoint, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", "X-CSRFToken": form.dataset.csrf,
                   "Accept": "application/json" },
        body: JSON.stringify({
          signature: canvas.toDataURL("image/png"),
          text_sha256: form.dataset.textSha256,
          signer_name: form.elements.signer_name.value
        })
      }).then(function (resp) {
        return resp.json().then(function (body) { return { ok: resp.ok, body: body }; });
      }).then(function (res) {
        if (res.ok) { window.location.assign(form.dataset.done); return; }
        message.textContent = (res.body && res.body.error && res.body.error.message) || "Error";
        button.disabled = false;
      }).catch(function (err) {
        message.textContent = String(err); button.disabled = false;
      });
    });

    reset();
  }

  document.addEventListener("DOMContentLoaded", init);
}());
