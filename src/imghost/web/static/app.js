// The web UI's script: a file of its own, so the page's CSP allows no inline script.
const $ = (s) => document.querySelector(s);
let token = sessionStorage.getItem("imghost.token");
let me = null;

function say(text, bad) { const m = $("#msg"); m.textContent = text || ""; m.className = bad ? "err" : ""; }
async function api(path, opts = {}) {
  opts.headers = Object.assign({}, opts.headers || {}, token ? { Authorization: "Bearer " + token } : {});
  const r = await fetch(path, opts);
  const body = r.status === 204 ? null : await r.json().catch(() => null);
  if (!r.ok) throw Object.assign(new Error(body && body.detail ? body.detail : r.statusText), { problem: body || {} });
  return body;
}
function json(method, body) { return { method, headers: { "Content-Type": "application/json" }, body: JSON.stringify(body) }; }

async function showImage(img) {
  const fig = document.createElement("figure");
  fig.dataset.imageId = img.imageId;
  const el = document.createElement("img");
  el.alt = img.title || img.imageId;
  const src = img.thumbnailUrl || img.url;
  if (img.visibility === "private" || img.visibility === "shared" || img.status !== "ready") {
    // Only the owner (and those it is shared with) may see these bytes: they
    // need the bearer token, which an <img src> cannot send.
    const r = await fetch(src, { headers: { Authorization: "Bearer " + token } });
    if (r.ok) el.src = URL.createObjectURL(await r.blob());
  } else { el.src = src; }
  const cap = document.createElement("figcaption");
  cap.textContent = `${img.title || img.imageId} · ${img.width}×${img.height} · ${img.visibility}` +
    (img.status !== "ready" ? ` · ${img.status}` : "");
  fig.append(el, cap);
  return fig;
}

async function refresh() {
  if (!token) { $("#auth").hidden = false; $("#app").hidden = true; return; }
  try { me = await api("/v1/users/me"); } catch (e) { token = null; sessionStorage.removeItem("imghost.token"); return refresh(); }
  $("#auth").hidden = true; $("#app").hidden = false; $("#who").textContent = me.username;
  const list = await api(`/v1/users/${me.userId}/images?limit=100`);
  const figs = [];
  for (const img of list.images) figs.push(await showImage(img));
  $("#gallery").replaceChildren(...figs);  // at once: uploads finishing together refresh together
}

$("#signup").onsubmit = async (ev) => {
  ev.preventDefault(); const f = new FormData(ev.target);
  try {
    await api("/v1/auth/signup", json("POST", Object.fromEntries(f)));
    const t = await api("/v1/auth/login", json("POST", { email: f.get("email"), password: f.get("password") }));
    token = t.accessToken; sessionStorage.setItem("imghost.token", token); say("Welcome!"); refresh();
  } catch (e) { say(e.message, true); }
};
// Two-factor sign-in: the password answers mfa_required with a challenge token;
// the code goes with that token to /v1/auth/mfa (the password is not sent twice).
let mfaToken = null;
function askForCode(on) {
  const code = $("#mfa-code"); code.hidden = !on; code.disabled = !on; code.required = on;
  $("#login [name=password]").disabled = on; $("#login [name=email]").disabled = on;
  if (on) code.focus(); else { code.value = ""; mfaToken = null; }
}
$("#login").onsubmit = async (ev) => {
  ev.preventDefault();
  const f = Object.fromEntries(new FormData(ev.target));
  try {
    const t = mfaToken
      ? await api("/v1/auth/mfa", json("POST", { mfaToken, code: f.mfaCode }))
      : await api("/v1/auth/login", json("POST", f));
    askForCode(false);
    token = t.accessToken; sessionStorage.setItem("imghost.token", token); say(""); refresh();
  } catch (e) {
    if (e.problem.code === "mfa_required") {
      mfaToken = e.problem.mfaToken; askForCode(true);
      say("Enter the code from your authenticator app (or a recovery code).");
    } else {
      if (e.problem.code === "invalid_mfa_token") askForCode(false);  // sign in again
      say(e.message, true);
    }
  }
};
$("#logout").onclick = (ev) => { ev.preventDefault(); token = null; sessionStorage.removeItem("imghost.token"); refresh(); };
// Uploads go through tus 1.0.0 (docs/API.md): POST creates an upload, PATCHes send
// the file in chunks, and after a broken connection HEAD tells where to go on from.
const TUS = { "Tus-Resumable": "1.0.0" };
const DELAYS = [1, 2, 4, 8, 16, 32];  // seconds to wait before each retry
class Retry extends Error {}  // the connection broke, or the server asks to try again
const retriable = (status) => status >= 500 || [408, 409, 423].includes(status);
const sleep = (s) => new Promise((done) => setTimeout(done, s * 1000));
const auth = () => Object.assign({ Authorization: "Bearer " + token }, TUS);
// Upload-Metadata values are base64 of UTF-8 (btoa alone takes only Latin-1).
const b64 = (s) => btoa(Array.from(new TextEncoder().encode(s), (b) => String.fromCharCode(b)).join(""));
function detail(status, text, fallback) {
  try { const p = JSON.parse(text); if (p && p.detail) return p.detail; } catch (e) {}
  return fallback || `HTTP ${status}`;
}
async function tusFetch(url, opts) {
  let r;
  try { r = await fetch(url, Object.assign({ cache: "no-store" }, opts)); } catch (e) { throw new Retry(e.message); }
  if (retriable(r.status)) throw new Retry(`HTTP ${r.status}`);
  return r;
}
async function tusCreate(file, fields) {
  const meta = Object.entries(Object.assign({ filename: file.name, filetype: file.type }, fields))
    .filter(([, v]) => v).map(([k, v]) => `${k} ${b64(v)}`).join(",");
  const r = await tusFetch("/v1/tus/", { method: "POST",
    headers: Object.assign(auth(), { "Upload-Length": String(file.size), "Upload-Metadata": meta }) });
  if (r.status !== 201) throw new Error(detail(r.status, await r.text(), r.statusText));
  return r.headers.get("Location");  // path-absolute: /v1/tus/{uploadId}
}
async function tusOffset(url) {  // null: the upload is gone (expired, unknown): start anew
  const r = await tusFetch(url, { method: "HEAD", headers: auth() });
  if (r.status === 404 || r.status === 410) return null;
  if (!r.ok) throw new Error(r.statusText || `HTTP ${r.status}`);
  return Number(r.headers.get("Upload-Offset"));
}
function tusPatch(url, offset, blob, onprogress) {  // resolves with the server's new offset
  return new Promise((resolve, reject) => {
    const xhr = new XMLHttpRequest();
    let idle;  // no byte sent for 30 s: the connection is dead, try again
    const watch = () => { clearTimeout(idle); idle = setTimeout(() => xhr.abort(), 30000); };
    xhr.open("PATCH", url);
    const headers = Object.assign(auth(), { "Upload-Offset": String(offset), "Content-Type": "application/offset+octet-stream" });
    for (const [k, v] of Object.entries(headers)) xhr.setRequestHeader(k, v);
    xhr.upload.onprogress = (e) => { watch(); onprogress(e.loaded); };
    xhr.upload.onload = () => clearTimeout(idle);  // sent; the last chunk's answer waits for validation
    xhr.onload = () => {
      clearTimeout(idle);
      if (xhr.status === 204) resolve(Number(xhr.getResponseHeader("Upload-Offset")));
      else if (retriable(xhr.status)) reject(new Retry(`HTTP ${xhr.status}`));
      else reject(new Error(detail(xhr.status, xhr.responseText, xhr.statusText)));
    };
    xhr.onerror = xhr.ontimeout = xhr.onabort = () => { clearTimeout(idle); reject(new Retry("connection lost")); };
    watch(); xhr.send(blob);
  });
}
async function tusUpload(file, fields, row) {  // resolves with the new image's id
  const chunk = window.IMGHOST_CHUNK || 5 * 1024 * 1024;
  // Remembered across page loads: choosing the same file again resumes its upload.
  const key = `imghost.tus:${me.userId}:${file.name}:${file.size}:${file.lastModified}`;
  let url = localStorage.getItem(key), offset = url ? null : 0, tries = 0;
  row.note("uploading…");
  for (;;) {
    try {
      if (offset === null) {
        offset = await tusOffset(url);
        if (offset === null) { url = null; offset = 0; } else row.note("resuming…");
      }
      if (!url) { url = await tusCreate(file, fields); localStorage.setItem(key, url); }
      row.sent(offset);
      const start = offset;  // an empty PATCH at the end finishes an upload whose answer was lost
      offset = await tusPatch(url, offset, file.slice(offset, offset + chunk), (n) => row.sent(start + n));
      tries = 0; row.sent(offset);
      if (offset >= file.size) break;
    } catch (e) {
      if (!(e instanceof Retry)) throw e;  // its entry stays: HEAD then says 404/410
      if (tries >= DELAYS.length) throw new Error("connection lost; choose the file again later to resume");
      row.note("connection lost, retrying…", true);
      await sleep(DELAYS[tries++]); offset = null;  // then ask HEAD what arrived
    }
  }
  localStorage.removeItem(key);
  for (let i = 0; ; i++) {
    const up = await api(`/v1/uploads/${url.split("/").pop()}`);
    if (up.imageId) return up.imageId;
    if (up.error) throw new Error(up.error.detail);
    if (i >= 20) throw new Error(`upload is ${up.status}`);
    await sleep(0.5);
  }
}
function uploadRow(file, onsent) {
  const li = document.createElement("li"), bar = document.createElement("progress"), note = document.createElement("span");
  bar.max = file.size || 1; bar.value = 0;
  li.append(file.name + " ", bar, " ", note);
  return { li, sent(n) { bar.value = n; onsent(n); },
           note(text, bad) { note.textContent = text; note.className = bad ? "err" : ""; } };
}
$("#upload").onsubmit = async (ev) => {
  ev.preventDefault();
  const form = ev.target, f = new FormData(form), files = Array.from(form.file.files);
  const fields = { title: f.get("title"), tags: f.get("tags"), visibility: f.get("visibility") };
  const bar = $("#progress"), sent = new Map(), total = files.reduce((n, file) => n + file.size, 0) || 1;
  const rows = files.map((file) => uploadRow(file, (n) => {
    sent.set(file, n); bar.value = Array.from(sent.values()).reduce((a, b) => a + b, 0) / total;
  }));
  $("#uploads").replaceChildren(...rows.map((r) => r.li));
  form.querySelector("button").disabled = true; bar.value = 0; bar.hidden = false; say("");
  let next = 0, ok = 0;
  const worker = async () => {  // two files at a time
    while (next < files.length) {
      const i = next++;
      try {
        const imageId = await tusUpload(files[i], fields, rows[i]);
        rows[i].li.dataset.imageId = imageId; rows[i].note(`done · ${imageId}`); ok++; refresh();
      } catch (e) { rows[i].note(e.message, true); }
    }
  };
  await Promise.all([worker(), worker()]);
  form.querySelector("button").disabled = false; bar.hidden = true;
  say(`${ok} of ${files.length} uploaded.`, ok < files.length);
  if (ok === files.length) form.reset();
};
refresh();
