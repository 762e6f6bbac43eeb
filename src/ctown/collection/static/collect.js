// ctown village collection form (村级信用信息采集): works offline, syncs when the network returns.
//
// Each saved record becomes one batch in the ctown-collect/1 format (see collection/protocol.py):
// signed with this device's Ed25519 key (generated on enrolment, never leaves the browser) and
// sealed with RFC 9180 HPKE (DHKEM X25519 / HKDF-SHA256 / AES-256-GCM) to the county's key, both
// with WebCrypto. Only sealed batches are kept in IndexedDB, so a lost device reveals no records.
"use strict";
(() => {
  const config = JSON.parse(document.getElementById("collect-config").textContent);
  const L = config.labels;
  const te = new TextEncoder();
  const FORMAT = "ctown-collect/1";
  const SIGN_CONTEXT = te.encode("ctown-collect/1 signature\n");
  const $ = (id) => document.getElementById(id);

  // -- bytes ---------------------------------------------------------------------------------
  const concat = (...parts) => {
    const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0));
    let at = 0;
    for (const p of parts) { out.set(p, at); at += p.length; }
    return out;
  };
  const i2osp = (value, length) => {
    const out = new Uint8Array(length);
    for (let i = length - 1; i >= 0; i--) { out[i] = value & 0xff; value >>= 8; }
    return out;
  };
  const b64e = (bytes) => {
    let s = "";
    for (const b of bytes) s += String.fromCharCode(b);
    return btoa(s).replace(/\+/g, "-").replace(/\//g, "_").replace(/=+$/, "");
  };
  const b64d = (text) => {
    const s = atob(text.replace(/-/g, "+").replace(/_/g, "/") + "===".slice((text.length + 3) % 4));
    return Uint8Array.from(s, (c) => c.charCodeAt(0));
  };
  const randomId = (n) => b64e(crypto.getRandomValues(new Uint8Array(n)));

  // -- HPKE base mode, single shot (RFC 9180 §4–§6) -------------------------------------------
  const EMPTY = new Uint8Array(0);
  const KEM_SUITE = concat(te.encode("KEM"), i2osp(0x0020, 2));
  const HPKE_SUITE = concat(te.encode("HPKE"), i2osp(0x0020, 2), i2osp(0x0001, 2), i2osp(0x0002, 2));
  async function hmac(key, data) {
    // HKDF's default salt is HashLen zero bytes; HMAC pads an empty key the same way.
    const k = await crypto.subtle.importKey("raw", key.length ? key : new Uint8Array(32),
      { name: "HMAC", hash: "SHA-256" }, false, ["sign"]);
    return new Uint8Array(await crypto.subtle.sign("HMAC", k, data));
  }
  const labeledExtract = (suite, salt, label, ikm) =>
    hmac(salt, concat(te.encode("HPKE-v1"), suite, te.encode(label), ikm));
  async function labeledExpand(suite, prk, label, info, length) {
    const labeled = concat(i2osp(length, 2), te.encode("HPKE-v1"), suite, te.encode(label), info);
    return (await hmac(prk, concat(labeled, new Uint8Array([1])))).slice(0, length);
  }
  async function hpkeSeal(recipientRaw, info, plaintext) {
    const eph = await crypto.subtle.generateKey({ name: "X25519" }, true, ["deriveBits"]);
    const enc = new Uint8Array(await crypto.subtle.exportKey("raw", eph.publicKey));
    const pkR = await crypto.subtle.importKey("raw", recipientRaw, { name: "X25519" }, true, []);
    const dh = new Uint8Array(await crypto.subtle.deriveBits({ name: "X25519", public: pkR },
      eph.privateKey, 256));
    const eaePrk = await labeledExtract(KEM_SUITE, EMPTY, "eae_prk", dh);
    const shared = await labeledExpand(KEM_SUITE, eaePrk, "shared_secret", concat(enc, recipientRaw), 32);
    const context = concat(new Uint8Array([0]),
      await labeledExtract(HPKE_SUITE, EMPTY, "psk_id_hash", EMPTY),
      await labeledExtract(HPKE_SUITE, EMPTY, "info_hash", info));
    const secret = await labeledExtract(HPKE_SUITE, shared, "secret", EMPTY);
    const key = await labeledExpand(HPKE_SUITE, secret, "key", context, 32);
    const nonce = await labeledExpand(HPKE_SUITE, secret, "base_nonce", context, 12);
    const aes = await crypto.subtle.importKey("raw", key, "AES-GCM", false, ["encrypt"]);
    const ct = new Uint8Array(await crypto.subtle.encrypt({ name: "AES-GCM", iv: nonce }, aes, plaintext));
    return concat(enc, ct);
  }

  // -- IndexedDB: "terminal" (this device's key) and "queue" (sealed batches) ------------------
  let dbPromise = null;
  function db() {
    dbPromise = dbPromise || new Promise((resolve, reject) => {
      const req = indexedDB.open("ctown-collect", 1);
      req.onupgradeneeded = () => {
        req.result.createObjectStore("terminal");
        req.result.createObjectStore("queue", { keyPath: "batch_id" });
      };
      req.onsuccess = () => resolve(req.result);
      req.onerror = () => reject(req.error);
    });
    return dbPromise;
  }
  async function store(name, mode, action) {
    const tx = (await db()).transaction(name, mode);
    const req = action(tx.objectStore(name));
    return new Promise((resolve, reject) => {
      tx.oncomplete = () => resolve(req && req.result);
      tx.onerror = () => reject(tx.error);
    });
  }
  const getTerminal = () => store("terminal", "readonly", (s) => s.get("self"));
  const allBatches = () => store("queue", "readonly", (s) => s.getAll());
  const putBatch = (b) => store("queue", "readwrite", (s) => s.put(b));

  // -- enrolment ------------------------------------------------------------------------------
  async function enrol() {
    const pair = await crypto.subtle.generateKey({ name: "Ed25519" }, false, ["sign", "verify"]);
    const publicRaw = new Uint8Array(await crypto.subtle.exportKey("raw", pair.publicKey));
    const reply = await fetch("/api/v1/collection/enrol", {
      method: "POST", credentials: "same-origin",
      headers: { "content-type": "application/json", "x-csrf-token": config.csrf },
      body: JSON.stringify({ public_key: b64e(publicRaw), name: $("terminal-name").value }),
    });
    if (!reply.ok) throw new Error(L.enrol_failed);
    const body = await reply.json();
    await store("terminal", "readwrite", (s) => s.put({
      id: body.terminal.id, privateKey: pair.privateKey,
      county: body.county.public_key, fingerprint: body.county.fingerprint,
    }, "self"));
  }

  // -- sealing one record into a batch ------------------------------------------------------
  async function seal(terminal, record) {
    const header = { format: FORMAT, terminal: terminal.id, batch_id: randomId(18),
      nonce: randomId(16), county_key: terminal.fingerprint };
    const payload = te.encode(JSON.stringify({ ...header, created_at: new Date().toISOString(),
      records: [record] }));
    const signature = new Uint8Array(await crypto.subtle.sign({ name: "Ed25519" },
      terminal.privateKey, concat(SIGN_CONTEXT, payload)));
    const info = te.encode([FORMAT, header.terminal, header.batch_id, header.nonce,
      header.county_key].join("\n"));
    const sealed = await hpkeSeal(b64d(terminal.county), info, concat(signature, payload));
    return { ...header, sealed: b64e(sealed) };
  }

  const masked = (text) => text.length > 8 ? text.slice(0, 3) + "…" + text.slice(-3) : text;

  async function save(event) {
    event.preventDefault();
    const terminal = await getTerminal();
    const choice = $("value-choice");
    const record = {
      subject: $("subject").value.trim(), indicator: $("indicator").value,
      value: choice.hidden ? $("value").value.trim() : choice.value,
      observed_on: $("observed_on").value, officer: $("officer").value.trim(),
    };
    const envelope = await seal(terminal, record);
    await putBatch({ batch_id: envelope.batch_id, envelope: JSON.stringify(envelope),
      state: "queued", saved_at: new Date().toISOString(),
      summary: { subject: masked(record.subject), indicator: record.indicator, value: record.value } });
    $("subject").value = "";
    $("value").value = "";
    $("sync-note").textContent = L.saved;
    await refresh();
    sync();
  }

  // -- upload -------------------------------------------------------------------------------
  let syncing = false;
  async function sync() {
    if (syncing || !navigator.onLine) return;
    syncing = true;
    try {
      for (const batch of await allBatches()) {
        if (batch.state !== "queued") continue;
        let reply;
        try {
          reply = await fetch("/api/v1/collection/batches", { method: "POST",
            headers: { "content-type": "application/json" }, body: batch.envelope });
        } catch (err) {
          break;  // offline again: keep the rest queued
        }
        const body = await reply.json().catch(() => ({}));
        if (reply.ok || body.already_accepted) {
          batch.state = "sent";
          batch.result = body.rejected ? body.rejections : null;
        } else if (reply.status >= 400 && reply.status < 500) {
          batch.state = "refused";
          batch.result = body.reason || null;
        } else {
          break;  // the server is unwell: try again later
        }
        await putBatch(batch);
      }
    } finally {
      syncing = false;
      await refresh();
    }
  }

  // -- display ------------------------------------------------------------------------------
  async function refresh() {
    const batches = await allBatches();
    const count = (state) => String(batches.filter((b) => b.state === state).length);
    $("queued").textContent = count("queued");
    $("sent").textContent = count("sent");
    $("refused").textContent = count("refused");
    $("net").textContent = navigator.onLine ? L.online : L.offline;
    const body = $("entries").tBodies[0];
    body.replaceChildren(...batches.sort((a, b) => b.saved_at.localeCompare(a.saved_at))
      .slice(0, 50).map((b) => {
        const tr = document.createElement("tr");
        tr.dataset.state = b.state;
        for (const text of [b.saved_at.slice(0, 16).replace("T", " "), b.summary.subject,
          b.summary.indicator, b.summary.value, stateText(b)]) {
          const td = document.createElement("td");
          td.textContent = text;
          tr.append(td);
        }
        return tr;
      }));
  }

  // A sent batch may still have had its record returned (e.g. unknown household): say why.
  function stateText(b) {
    const pick = (reason) => (reason && (reason[config.locale] || reason.zh)) || "";
    const [colon, semi] = config.locale === "en" ? [": ", "; "] : ["：", "；"];
    if (b.state === "refused") return L.refused + colon + pick(b.result);
    if (b.state === "sent" && b.result && b.result.length) {
      return L.returned + colon + b.result.map((r) => pick(r.reason)).join(semi);
    }
    return L[b.state];
  }

  function showValueField() {
    const ind = config.indicators.find((i) => i.code === $("indicator").value);
    const choice = $("value-choice");
    const options = ind.type === "code" ? Object.entries(ind.codes)
      : ind.type === "boolean" ? [["1", L.yes], ["0", L.no]] : null;
    $("value").hidden = !!options;
    $("value").required = !options;
    choice.hidden = !options;
    $("value").type = ind.type === "integer" || ind.type === "decimal" ? "number" : "text";
    $("value").step = ind.type === "decimal" ? "any" : "1";
    if (ind.min !== null) $("value").min = ind.min; else $("value").removeAttribute("min");
    if (ind.max !== null) $("value").max = ind.max; else $("value").removeAttribute("max");
    choice.replaceChildren(...(options || []).map(([value, label]) => {
      const o = document.createElement("option");
      o.value = value;
      o.textContent = value + " " + label;
      return o;
    }));
  }

  async function start() {
    if (!window.isSecureContext || !crypto.subtle || !window.indexedDB) {
      $("sync-note").textContent = L.unsupported;
      return;
    }
    if ("serviceWorker" in navigator) {
      navigator.serviceWorker.register("/collection/sw.js", { scope: "/collection/" })
        .catch(() => {});
    }
    $("observed_on").value = new Date().toISOString().slice(0, 10);
    $("indicator").addEventListener("change", showValueField);
    showValueField();
    $("record").addEventListener("submit", (e) => save(e).catch((err) => {
      $("sync-note").textContent = String(err);
    }));
    $("sync").addEventListener("click", sync);
    $("enrol").addEventListener("click", () => enrol().then(showState).catch((err) => {
      $("sync-note").textContent = String(err.message || err);
    }));
    window.addEventListener("online", () => { refresh(); sync(); });
    window.addEventListener("offline", refresh);
    await showState();
  }

  async function showState() {
    const terminal = await getTerminal();
    $("enrol-card").hidden = !!terminal;
    $("record").hidden = !terminal;
    $("terminal-id").textContent = terminal ? terminal.id : "-";
    await refresh();
    sync();
  }

  setInterval(sync, 10000);
  start();
})();
