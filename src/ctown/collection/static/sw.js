// Service worker of the collection form: keeps the page, its script and the style sheet, so that
// the form opens and works without network (network first, the cached copy when offline).
"use strict";
const CACHE = "ctown-collect-v1";
const SHELL = ["/collection/form", "/collection/collect.js", "/static/ctown.css"];

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(CACHE).then((c) => c.addAll(SHELL)).then(() => self.skipWaiting()));
});

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n !== CACHE).map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

self.addEventListener("fetch", (event) => {
  const url = new URL(event.request.url);
  if (event.request.method !== "GET" || url.origin !== self.location.origin
      || !SHELL.includes(url.pathname)) {
    return;  // uploads and everything else go straight to the network
  }
  event.respondWith(fetch(event.request).then((response) => {
    if (response.ok && !response.redirected) {
      const copy = response.clone();
      caches.open(CACHE).then((c) => c.put(url.pathname, copy));
    }
    return response;
  }).catch(() => caches.match(url.pathname)));
});
