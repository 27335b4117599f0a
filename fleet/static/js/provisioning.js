// Live provisioning run page: polls the run's JSON every 2 s and redraws one row per phone.
// The page works without it (server-rendered at load time).
(function () {
  "use strict";
  var table = document.getElementById("run-phones");
  if (!table) { return; }
  var url = table.dataset.runUrl;
  var statusEl = document.getElementById("run-status");
  var countsEl = document.getElementById("run-counts");

  function cell(text) {
    var td = document.createElement("td");
    td.textContent = text == null ? "" : String(text);
    return td;
  }

  function draw(run) {
    statusEl.textContent = run.status + (run.active ? " (live)" : "");
    countsEl.textContent = Object.keys(run.counts).sort().map(function (k) {
      return run.counts[k] + " " + k;
    }).join(", ");
    var body = table.tBodies[0];
    var rows = document.createDocumentFragment();
    run.items.forEach(function (it) {
      var tr = document.createElement("tr");
      tr.dataset.item = it.id;
      tr.dataset.status = it.status;
      tr.appendChild(cell(it.asset_tag || it.serial || it.adb_serial));
      tr.appendChild(cell(it.model));
      tr.appendChild(cell(it.status));
      tr.appendChild(cell(it.step));
      tr.appendChild(cell(it.steps.map(function (s) { return s.step + ":" + s.status; }).join(" ")));
      tr.appendChild(cell(it.message));
      rows.appendChild(tr);
    });
    body.replaceChildren(rows);
  }

  function poll() {
    fetch(url, {credentials: "same-origin", headers: {"Accept": "application/json"}})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (run) {
        draw(run);
        if (run.status === "running" || run.active) { window.setTimeout(poll, 2000); }
      })
      .catch(function () { window.setTimeout(poll, 5000); });
  }
  poll();
})();
