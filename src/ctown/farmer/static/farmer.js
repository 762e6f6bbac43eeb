// The farmer's pages: keep the last pages for offline reading (sw.js), forget them at sign-out,
// and the "read aloud" button (POST /api/v1/channels/voice/say, then play the WAV it names).
"use strict";
(function () {
  var PREFIX = "ctown-farmer-";
  if ("serviceWorker" in navigator) {
    navigator.serviceWorker.register("/farmer/sw.js", {scope: "/farmer"}).catch(function () {});
  }
  // Signing out forgets the copies, so the next person on this phone does not read them.
  document.querySelectorAll("form[data-logout]").forEach(function (form) {
    form.addEventListener("submit", function (event) {
      if (!window.caches) return;
      event.preventDefault();
      caches.keys().then(function (names) {
        return Promise.all(names.filter(function (n) { return n.indexOf(PREFIX) === 0; })
          .map(function (n) { return caches.delete(n); }));
      }).finally(function () { form.submit(); });
    });
  });
  var button = document.querySelector("[data-say]");
  var status = document.querySelector("[data-say-status]");
  if (!button || !window.fetch || !window.Audio) return;
  button.hidden = false;
  // The endpoint takes at most 500 characters: the page goes in pieces, cut after a sentence.
  function pieces(text) {
    var out = [], cur = "";
    text.replace(/\s+\n/g, "\n").split(/(?<=[。！？!?；\n])/).forEach(function (s) {
      s = s.trim();
      if (!s) return;
      if ((cur + s).length > 450) { if (cur) out.push(cur); cur = s.slice(0, 450); }
      else cur += (cur ? " " : "") + s;
    });
    if (cur) out.push(cur);
    return out;
  }
  function play(url) {
    return new Promise(function (done, fail) {
      var audio = new Audio(url);
      audio.onended = done; audio.onerror = fail;
      audio.play().catch(fail);
    });
  }
  function say(text) {
    var token = document.querySelector('meta[name="csrf-token"]').content;
    return fetch("/api/v1/channels/voice/say", {method: "POST", credentials: "same-origin",
      headers: {"Content-Type": "application/json", "X-CSRF-Token": token},
      body: JSON.stringify({text: text})}).then(function (r) {
      if (!r.ok) throw new Error(String(r.status));
      return r.json();
    }).then(function (body) { return play(body.audio_url); });
  }
  button.addEventListener("click", function () {
    var parts = pieces(document.getElementById("main").innerText);
    button.disabled = true; status.textContent = "";
    parts.reduce(function (p, part) { return p.then(function () { return say(part); }); },
                 Promise.resolve())
      .catch(function () { status.textContent = button.dataset.unavailable || ""; })
      .finally(function () { button.disabled = false; });
  });
})();
