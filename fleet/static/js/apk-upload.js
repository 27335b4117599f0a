// APK upload with progress: sends the form to the JSON API with XMLHttpRequest so the
// browser reports upload progress; without this file the form posts normally.
document.addEventListener("DOMContentLoaded", function () {
  var form = document.getElementById("apk-upload");
  if (!form || !window.XMLHttpRequest || !window.FormData) { return; }
  var bar = document.getElementById("apk-progress");
  var status = document.getElementById("apk-status");
  form.addEventListener("submit", function (ev) {
    ev.preventDefault();
    var data = new FormData();
    var input = form.querySelector("input[type=file]");
    if (!input.files.length) { return; }
    data.append("file", input.files[0]);
    data.append("notes", form.querySelector("textarea[name=notes]").value);
    var xhr = new XMLHttpRequest();
    xhr.open("POST", form.dataset.api);
    xhr.setRequestHeader("X-CSRFToken", form.dataset.csrf);
    xhr.setRequestHeader("Accept", "application/json");
    bar.hidden = false;
    bar.value = 0;
    xhr.upload.addEventListener("progress", function (e) {
      if (e.lengthComputable) {
        bar.value = Math.round((e.loaded / e.total) * 100);
        status.textContent = bar.value + " %";
      }
    });
    xhr.upload.addEventListener("load", function () {
      status.textContent = "100 % · vetting…";
    });
    xhr.addEventListener("load", function () {
      var body = {};
      try { body = JSON.parse(xhr.responseText); } catch (e) { /* not JSON */ }
      if (xhr.status === 200 || xhr.status === 201) {
        window.location = form.dataset.releaseUrl.replace(/\/0$/, "/" + body.id);
      } else {
        status.textContent = (body.error && body.error.message) || ("HTTP " + xhr.status);
      }
    });
    xhr.addEventListener("error", function () { status.textContent = "network error"; });
    xhr.send(data);
  });
});
