// Service worker of the farmer's pages: network first (nothing stale is shown when online), and
// the last pages seen kept for reading offline, marked as an offline copy. A page that answers
// "signed out" forgets every copy: no one reads the previous person's pages on this phone.
"use strict";
const CACHE = "ctown-farmer-pages-v1";
const KEEP = 12;  // the last pages seen

self.addEventListener("install", () => self.skipWaiting());

self.addEventListener("activate", (event) => {
  event.waitUntil(caches.keys()
    .then((names) => Promise.all(names.filter((n) => n.startsWith("ctown-farmer-") && n !== CACHE)
      .map((n) => caches.delete(n))))
    .then(() => self.clients.claim()));
});

function isAsset(url) {
  return url.pathname.startsWith("/farmer/static/") || url.pathname === "/farmer/manifest.webmanifest";
}

async function keep(request, response) {
  const cache = await caches.open(CACHE);
  await cache.put(request, response);
  const pages = (await cache.keys()).filter((r) => !isAsset(new URL(r.url)));
  await Promise.all(pages.slice(0, Math.max(0, pages.length - KEEP)).map((r) => cache.delete(r)));
}

async function offline(request, page) {
  const cache = await caches.open(CACHE);
  const hit = (await cache.match(request)) || (page && await cache.match("/farmer"));
  if (!hit) return Response.error();
  if (!page) return hit;
  // The page carries its own "as of" time; the mark makes its offline banner show.
  const html = (await hit.text()).replace("<html ", "<html data-offline ");
  return new Response(html, {headers: {"Content-Type": "text/html; charset=utf-8"}});
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  const url = new URL(request.url);
  const page = request.mode === "navigate";
  if (request.method !== "GET" || url.origin !== self.location.origin || !(page || isAsset(url))) {
    return;  // forms, the API, the audio: straight to the network
  }
  event.respondWith(fetch(request).then((response) => {
    if (page && (response.redirected || response.status === 401 || response.status === 403)) {
      event.waitUntil(caches.delete(CACHE));  // signed out (sent to the login page): forget
    } else if (response.ok && !response.redirected) {
      event.waitUntil(keep(request, response.clone()));
    }
    return response;
  }).catch(() => offline(request, page)));
});
