// Member portal service worker: the app shell is cached so the portal opens offline, and the
// last card, balance and profile answers are kept so the card can be shown at the till offline.
const shell = "setia-shell-v1";
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

async function networkFirst(request, cacheName, fallbackUrl) {
  try {
    const response = await fetch(request);
    if (response.ok) (await caches.open(cacheName)).put(fallbackUrl ?? request, response.clone());
    return response;
  } catch (error) {
    const cached = await caches.match(fallbackUrl ?? request);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate" && url.pathname.startsWith("/app")) {
    event.respondWith(networkFirst(request, shell, "/app/"));
  } else if (url.pathname.startsWith("/assets/")) {
    // Hashed names: a cached copy is always the right one.
    event.respondWith(
      caches.match(request).then(
        (hit) =>
          hit ??
          fetch(request).then((response) => {
            const copy = response.clone();
            caches.open(shell).then((cache) => cache.put(request, copy));
            return response;
          }),
      ),
    );
  } else if (cachedData.test(url.pathname)) {
    event.respondWith(networkFirst(request, data));
  }
});
