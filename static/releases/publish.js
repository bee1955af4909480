// Publish form: bump buttons fill the version; drag-and-drop onto the drop zone; upload with a
// progress bar. Progressive enhancement: without this file the form is a normal multipart POST.
(function () {
  "use strict";
  function init() {
    var form = document.querySelector("form[data-upload]");
    if (!form) return;
    var version = form.querySelector("#id_version");
    form.querySelectorAll("[data-bump]").forEach(function (button) {
      button.addEventListener("click", function () { version.value = button.dataset.bump; version.focus(); });
    });

    var zone = form.querySelector("[data-dropzone]");
    var input = form.querySelector("input[type=file]");
    var nameLabel = form.querySelector("[data-dropzone-name]");
    function showName() { nameLabel.textContent = input.files.length ? input.files[0].name : ""; }
    input.addEventListener("change", showName);
    ["dragenter", "dragover"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.add("is-over"); });
    });
    ["dragleave", "drop"].forEach(function (type) {
      zone.addEventListener(type, function (event) { event.preventDefault(); zone.classList.remove("is-over"); });
    });
    zone.addEventListener("drop", function (event) {
      if (event.dataTransfer && event.dataTransfer.files.length) {
        input.files = event.dataTransfer.files;
        showName();
      }
    });

    var box = form.querySelector("[data-upload-progress]");
    var bar = box.querySelector("progress");
    var label = box.querySelector(".progress-label");
    var errors = form.querySelector("[data-upload-errors]");
    var submit = form.querySelector("button[type=submit]");
    form.addEventListener("submit", function (event) {
      if (!window.FormData || !window.XMLHttpRequest) return;
      event.preventDefault();
      errors.textContent = "";
      box.hidden = false;
      submit.disabled = true;
      var xhr = new XMLHttpRequest();
      xhr.open("POST", form.action || window.location.href);
      xhr.setRequestHeader("X-Upload", "xhr");
      xhr.upload.addEventListener("progress", function (e) {
        if (!e.lengthComputable) return;
        var percent = Math.round((e.loaded / e.total) * 100);
        bar.value = percent;
        label.textContent = percent < 100 ? "Uploading… " + percent + "%" : "Checking and analysing the bundle…";
      });
      xhr.addEventListener("load", function () {
        var body = null;
        try { body = JSON.parse(xhr.responseText); } catch (err) { body = null; }
        if (body && body.redirect) { window.location.assign(body.redirect); return; }
        submit.disabled = false;
        box.hidden = true;
        var problems = body && body.errors ? body.errors : { "": ["The upload failed (HTTP " + xhr.status + ")."] };
        Object.keys(problems).forEach(function (field) {
          problems[field].forEach(function (text) {
            var li = document.createElement("li");
            li.textContent = (field && field !== "__all__" ? field + ": " : "") + text;
            errors.appendChild(li);
          });
        });
      });
      xhr.addEventListener("error", function () {
        submit.disabled = false;
        box.hidden = true;
        var li = document.createElement("li");
        li.textContent = "The upload was interrupted; try again.";
        errors.appendChild(li);
      });
      xhr.send(new FormData(form));
    });
  }
  if (document.readyState === "loading") document.addEventListener("DOMContentLoaded", init);
  else init();
})();
