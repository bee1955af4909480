/*
 * Upkeep client SDK (H5 / WebView builds). No dependencies; works as a classic script
 * (window.Upkeep) or a CommonJS module.
 *
 *   const upkeep = new Upkeep.Client({baseUrl: "https://upkeep.example", key: "ck_...",
 *                                     embeddedVersion: "1.0.0", runtime: "2.1.0"});
 *   const run = upkeep.startup();        // at every cold start: the version to run (may revert)
 *   ... render ...
 *   upkeep.ready();                      // after the first meaningful render
 *   const answer = await upkeep.checkForUpdate();
 *   if (upkeep.flag("new-checkout") === "on") { ... }  // flags from the last update answer
 *   if (answer.version) await upkeep.download(answer);   // staged; active on the next start
 *
 * Safety contract (releases/README.md, RELEASES.md): a staged release is launched on the next
 * cold start with an "is loading" mark; ready() clears it. A mark still set at the following
 * start means that release never got ready: revert to the previous one, remember the failed
 * hash (never installed again automatically; a new hash always is), report install_failed and
 * rolled_back. Telemetry is batched (flush at 50 events, every 10 s, and on pagehide with
 * sendBeacon). Web vitals (LCP, INP, CLS, FCP, TTFB) are reported with a stable id per page
 * view so the server keeps the last value per id.
 */
(function (root, factory) {
  const api = factory();
  if (typeof module === "object" && module.exports) module.exports = api;
  else root.Upkeep = api;
})(typeof self !== "undefined" ? self : this, function () {
  "use strict";

  // --- bucketing: murmur3_x86_32(utf8(salt + ":" + id), seed 0), bp = (h * 10000) >> 32 --------
  function murmur3(bytes, seed) {
    let h = seed >>> 0;
    const n = bytes.length;
    const blocks = n & ~3;
    const c1 = 0xcc9e2d51, c2 = 0x1b873593;
    for (let i = 0; i < blocks; i += 4) {
      let k = (bytes[i] | (bytes[i + 1] << 8) | (bytes[i + 2] << 16) | (bytes[i + 3] << 24)) >>> 0;
      k = Math.imul(k, c1); k = (k << 15) | (k >>> 17); k = Math.imul(k, c2);
      h ^= k; h = (h << 13) | (h >>> 19); h = (Math.imul(h, 5) + 0xe6546b64) >>> 0;
    }
    let k = 0;
    switch (n & 3) {
      case 3: k ^= bytes[blocks + 2] << 16; // falls through
      case 2: k ^= bytes[blocks + 1] << 8; // falls through
      case 1:
        k ^= bytes[blocks];
        k = Math.imul(k, c1); k = (k << 15) | (k >>> 17); k = Math.imul(k, c2); h ^= k;
    }
    h ^= n;
    h ^= h >>> 16; h = Math.imul(h, 0x85ebca6b);
    h ^= h >>> 13; h = Math.imul(h, 0xc2b2ae35);
    h ^= h >>> 16;
    return h >>> 0;
  }

  function bucket(salt, installId) {
    if (!installId) return null;
    const h = murmur3(new TextEncoder().encode(salt + ":" + installId), 0);
    return Math.floor((h * 10000) / 4294967296); // exact: h * 10000 < 2^53
  }

  function inCohort(salt, installId, percent) {
    const bp = bucket(salt, installId);
    const limit = Math.max(0, Math.min(10000, Math.round(percent * 100)));
    return bp !== null && bp < limit;
  }

  async function sha256Hex(buffer) {
    const digest = await crypto.subtle.digest("SHA-256", buffer);
    return Array.from(new Uint8Array(digest), (b) => b.toString(16).padStart(2, "0")).join("");
  }

  function memoryStorage() {
    const data = new Map();
    return {
      getItem: (k) => (data.has(k) ? data.get(k) : null),
      setItem: (k, v) => data.set(k, String(v)),
      removeItem: (k) => data.delete(k),
    };
  }

  class IntegrityError extends Error {}

  class Client {
    constructor(options) {
      if (!options || !options.baseUrl || !options.key) throw new Error("baseUrl and key are required");
      this.baseUrl = options.baseUrl.replace(/\/+$/, "");
      this.key = options.key;
      this.runtime = options.runtime || "1.0.0";
      this.embeddedVersion = options.embeddedVersion || "1.0.0";
      this.storage = options.storage || (typeof localStorage !== "undefined" ? localStorage : memoryStorage());
      this.fetch = options.fetch || fetch.bind(globalThis);
      this.prefix = options.storagePrefix || "upkeep:";
      this.flushEvery = options.flushEveryMs === undefined ? 10000 : options.flushEveryMs;
      this.batchSize = options.batchSize || 50;
      this.queue = [];
      this.bundles = new Map(); // sha256 -> ArrayBuffer downloaded in this page
      this.timer = null;
      if (typeof addEventListener === "function") {
        addEventListener("pagehide", () => this.flush({beacon: true}));
      }
    }

    _get(name) { const v = this.storage.getItem(this.prefix + name); return v === null ? null : JSON.parse(v); }
    _set(name, value) {
      if (value === null || value === undefined) this.storage.removeItem(this.prefix + name);
      else this.storage.setItem(this.prefix + name, JSON.stringify(value));
    }

    /** The install id: random, minted once and persisted (never derived from the device). */
    installId() {
      let id = this._get("install_id");
      if (!id) {
        id = (crypto.randomUUID ? crypto.randomUUID() : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, "0")).join(""));
        this._set("install_id", id);
      }
      return id;
    }

    /** The release running now: {version, sha256} (sha256 null for the embedded bundle). */
    current() { return this._get("current") || {version: this.embeddedVersion, sha256: null}; }
    failedHashes() { return this._get("failed") || []; }

    /** GET /api/v1/update; resolves with the answer (version null: keep what you run). */
    async checkForUpdate() {
      const params = new URLSearchParams({key: this.key, current: this.current().version,
        runtime: this.runtime, install_id: this.installId()});
      const response = await this.fetch(`${this.baseUrl}/api/v1/update?${params}`);
      if (!response.ok) throw new Error(`update check failed: HTTP ${response.status}`);
      const answer = await response.json();
      this._set("flags", answer.flags || {}); // feature flags: see flag()
      if (answer.version && this.failedHashes().includes(answer.sha256)) {
        return Object.assign({}, answer, {version: null, skipped: "FAILED_BEFORE"});
      }
      return answer;
    }

    /**
     * Feature flags (flags/README.md): the variant of flag `key` for this install from the last
     * update answer ("on", or an A/B variant name), or null when it is off, killed, unknown or
     * no update check answered yet. Kept across restarts; the next checkForUpdate() refreshes it.
     */
    flag(key) {
      const flags = this._get("flags") || {};
      return Object.prototype.hasOwnProperty.call(flags, key) ? flags[key] : null;
    }

    /** Download the answer's bundle, verify its SHA-256 and stage it for the next start. */
    async download(answer) {
      const response = await this.fetch(answer.url);
      if (!response.ok) throw new Error(`download failed: HTTP ${response.status}`);
      const bytes = await response.arrayBuffer();
      const actual = await sha256Hex(bytes);
      if (actual !== answer.sha256) {
        this.track({type: "install_failed", name: "sha256_mismatch"}, answer.version);
        throw new IntegrityError(`bundle SHA-256 ${actual} is not the announced ${answer.sha256}`);
      }
      this.bundles.set(actual, bytes);
      this._set("staged", {version: answer.version, sha256: actual, mandatory: !!answer.mandatory});
      return bytes;
    }

    /**
     * Call at every cold start, before running a bundle. Returns {version, sha256, reverted}.
     * Reverts a release that never called ready() and launches a staged one with the mark set.
     */
    startup() {
      const loading = this._get("loading");
      let reverted = false;
      if (loading) {
        const failed = this.failedHashes();
        if (!failed.includes(loading.sha256)) failed.push(loading.sha256);
        this._set("failed", failed);
        this._set("current", loading.previous);
        this._set("loading", null);
        this.track({type: "install_failed", name: "not_ready"}, loading.version);
        this.track({type: "rolled_back", name: loading.version}, (loading.previous || {}).version || this.embeddedVersion);
        reverted = true;
      }
      const staged = this._get("staged");
      if (staged && !reverted && !this.failedHashes().includes(staged.sha256)) {
        this._set("loading", {version: staged.version, sha256: staged.sha256, previous: this.current()});
        this._set("current", {version: staged.version, sha256: staged.sha256});
      }
      this._set("staged", null);
      this.track({type: "launch"});
      return Object.assign({reverted}, this.current());
    }

    /** The running release rendered: clear the mark and report install_ok (once). */
    ready() {
      const loading = this._get("loading");
      if (loading) {
        this._set("loading", null);
        this.track({type: "install_ok"}, loading.version);
      }
    }

    // --- telemetry -------------------------------------------------------------------------

    track(event, version) {
      const item = Object.assign({at: new Date().toISOString()}, event);
      this.queue.push({version: version || this.current().version, event: item});
      if (this.queue.length >= this.batchSize) this.flush();
      else if (this.flushEvery && !this.timer) {
        this.timer = setTimeout(() => { this.timer = null; this.flush(); }, this.flushEvery);
      }
    }

    crash(name) { this.track({type: "crash", name: name || "Error"}); }
    error(name) { this.track({type: "error", name: name || "Error"}); }
    api(latencyMs, status, route) { this.track({type: "api", value: latencyMs, status: status, route: route}); }

    /** Send the queued events, one batch per version. Resolves when sent (not with beacon). */
    async flush(options) {
      if (this.timer) { clearTimeout(this.timer); this.timer = null; }
      const items = this.queue.splice(0);
      const byVersion = new Map();
      for (const item of items) {
        if (!byVersion.has(item.version)) byVersion.set(item.version, []);
        byVersion.get(item.version).push(item.event);
      }
      const url = `${this.baseUrl}/api/v1/telemetry?key=${encodeURIComponent(this.key)}`;
      const sent = [];
      for (const [version, events] of byVersion) {
        for (let i = 0; i < events.length; i += 500) {
          const body = JSON.stringify({install_id: this.installId(), version: version, events: events.slice(i, i + 500)});
          if (options && options.beacon && typeof navigator !== "undefined" && navigator.sendBeacon) {
            navigator.sendBeacon(url, new Blob([body], {type: "text/plain"}));
          } else {
            sent.push(this.fetch(url, {method: "POST", body: body, headers: {"Content-Type": "text/plain"}, keepalive: true}));
          }
        }
      }
      const responses = await Promise.all(sent);
      return responses.map((r) => r.status);
    }

    /** Observe LCP, INP (approximation: the slowest interaction), CLS, FCP and TTFB. */
    observeVitals() {
      if (typeof PerformanceObserver === "undefined") return;
      const view = `v1-${Date.now()}-${Math.floor(Math.random() * 1e12)}`;
      const device = (typeof matchMedia === "function" && matchMedia("(pointer: coarse)").matches) ? "mobile" : "desktop";
      const route = typeof location !== "undefined" ? location.pathname.slice(0, 200) : undefined;
      const report = (name, value) => this.track({type: "vital", name, value: Math.max(0, value), id: `${name}-${view}`, device, route});
      const observe = (type, callback, extra) => {
        try { new PerformanceObserver((list) => callback(list.getEntries())).observe(Object.assign({type, buffered: true}, extra || {})); } catch (e) { /* unsupported entry type */ }
      };
      observe("largest-contentful-paint", (entries) => { const last = entries[entries.length - 1]; if (last) report("LCP", last.startTime); });
      observe("paint", (entries) => { for (const e of entries) if (e.name === "first-contentful-paint") report("FCP", e.startTime); });
      let cls = 0;
      observe("layout-shift", (entries) => { for (const e of entries) if (!e.hadRecentInput) cls += e.value; report("CLS", cls); });
      let inp = 0;
      observe("event", (entries) => { for (const e of entries) if (e.interactionId && e.duration > inp) { inp = e.duration; report("INP", inp); } }, {durationThreshold: 16});
      const nav = typeof performance !== "undefined" && performance.getEntriesByType ? performance.getEntriesByType("navigation")[0] : null;
      if (nav) report("TTFB", nav.responseStart);
    }
  }

  return {bucket, inCohort, murmur3, sha256Hex, Client, IntegrityError, memoryStorage};
});
