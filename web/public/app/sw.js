// Member portal service worker: the app shell is cached so the portal opens offline, and the
// last card, balance and profile answers are kept so the card can be shown at the till offline.
const shell = "setia-shell-v2";
const data = "setia-card";
const cachedData = /^\/v1\/portal\/[^/]+\/(me|me\/card|me\/balance|branding)$/;

self.addEventListener("install", (event) => {
  event.waitUntil(caches.open(shell).then((cache) => cache.addAll(["/app/"])));
  self.skipWaiting();
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    caches
      .keys()
      .then((keys) =>
        Promise.all(keys.filter((k) => k !== shell && k !== data).map((k) => caches.delete(k))),
      )
      .then(() => self.clients.claim()),
  );
});

async function networkFirst(request, cacheName) {
  try {
    const response = await fetch(request);
    if (response.ok) (await caches.open(cacheName)).put(request, response.clone());
    return response;
  } catch (error) {
    const cached = await caches.match(request);
    if (cached) return cached;
    throw error;
  }
}

/**
 * The shell from the cache at once, refreshed in the background for the next visit: on a slow
 * phone the card appears one round trip sooner. A new shell still references its own hashed
 * assets, which are fetched (and cached) when it is first used.
 */
async function cacheThenRefresh(event, cacheName, key) {
  const cache = await caches.open(cacheName);
  const cached = await cache.match(key);
  const refresh = fetch(event.request).then((response) => {
    if (response.ok) return cache.put(key, response.clone()).then(() => response);
    return response;
  });
  if (!cached) return refresh;
  event.waitUntil(refresh.catch(() => undefined));
  return cached;
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith("/app")) {
    event.respondWith(cacheThenRefresh(event, shell, "/app/"));
  } else if (url.pathname.startsWith("/assets/")) {
    // Hashed names: a cached copy is always the right one.
    event.respondWith(
      caches.match(request).then(
        (hit) =>
          hit ??
          fetch(request).then((response) => {
            // Only a good answer is kept: a cached error would stay for good under this name.
            if (response.ok) {
              const copy = response.clone();
              caches.open(shell).then((cache) => cache.put(request, copy));
            }
            return response;
          }),
      ),
    );
  } else if (cachedData.test(url.pathname)) {
    event.respondWith(networkFirst(request, data));
  }
});
