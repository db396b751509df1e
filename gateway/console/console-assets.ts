// The console's own static assets, served by the gateway itself (no CDN): its stylesheet, and the
// script that checks a transfer's journal entries in the browser. The script fetches the inclusion
// proofs (GET /v1/audit/proof/:id) and the gateway's JWKS, verifies the checkpoint's EdDSA signature
// (WebCrypto Ed25519), recomputes each entry's RFC 9162 leaf hash from the entry text on the page and
// its path to the signed root, and only then writes "verified" — or "failed" with the reason.

export const CONSOLE_CSS = `
@import url('/console/assets/vendor/uplot/uPlot.min.css');
body { font: 16px/1.5 system-ui, sans-serif; margin: 0; color: #1a1a1a; background: #fff; }
header { background: #12355b; color: #fff; padding: 0.5rem 1rem; }
header a { color: #fff; }
header nav ul { list-style: none; display: flex; gap: 1rem; padding: 0; margin: 0.25rem 0; }
main { padding: 1rem; max-width: 80rem; }
table { border-collapse: collapse; margin: 1rem 0; }
caption { text-align: left; font-weight: bold; padding: 0.25rem 0; }
th, td { border: 1px solid #8a8a8a; padding: 0.25rem 0.5rem; text-align: left; vertical-align: top; }
a { color: #0b4f9c; }
a:focus, button:focus, input:focus, textarea:focus, summary:focus { outline: 3px solid #b35c00; outline-offset: 2px; }
.unconfirmed { color: #8a4b00; }
.effect-deny, .proof-failed { color: #a30000; font-weight: bold; }
.effect-allow, .proof-verified { color: #0a6b2a; font-weight: bold; }
code { font-size: 0.9em; }
.charts { display: flex; flex-wrap: wrap; gap: 1rem; }
.charts figure { margin: 0; }
.problem { color: #a30000; font-weight: bold; }
.status-expired { color: #a30000; font-weight: bold; }
.status-expiring, .uncovered { color: #8a4b00; font-weight: bold; }
pre.diff { border: 1px solid #8a8a8a; padding: 0.5rem; overflow-x: auto; }
pre.diff ins { background: #dff3e4; text-decoration: none; }
pre.diff del { background: #fbe3e4; text-decoration: none; }
`;

export const VERIFY_PROOFS_JS = `
'use strict';
(function () {
  const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
  const b64url = (text) => b64(text.replace(/-/g, '+').replace(/_/g, '/') + '==='.slice((text.length + 3) % 4));
  const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
  const sha256 = async (bytes) => new Uint8Array(await crypto.subtle.digest('SHA-256', bytes));
  const join = (...parts) => { const out = new Uint8Array(parts.reduce((n, p) => n + p.length, 0)); let at = 0; for (const p of parts) { out.set(p, at); at += p.length; } return out; };
  const leafHash = (text) => sha256(join(new Uint8Array([0]), new TextEncoder().encode(text)));
  const node = (left, right) => sha256(join(new Uint8Array([1]), left, right));
  // RFC 9162 section 2.1.3.2.
  async function rootFrom(leafIndex, treeSize, leaf, proof) {
    if (leafIndex >= treeSize) return undefined;
    let fn = leafIndex, sn = treeSize - 1, r = leaf;
    for (const p of proof) {
      if (sn === 0) return undefined;
      if (fn % 2 === 1 || fn === sn) {
        r = await node(p, r);
        if (fn % 2 === 0) { do { fn = Math.floor(fn / 2); sn = Math.floor(sn / 2); } while (fn % 2 === 0 && fn !== 0); }
      } else {
        r = await node(r, p);
      }
      fn = Math.floor(fn / 2); sn = Math.floor(sn / 2);
    }
    return sn === 0 ? r : undefined;
  }
  async function verifyCheckpoint(jws, jwks) {
    const [head, payload, signature] = jws.split('.');
    const header = JSON.parse(new TextDecoder().decode(b64url(head)));
    const jwk = jwks.keys.find((key) => key.kid === header.kid && key.hetao_peer === undefined);
    if (!jwk || header.alg !== 'EdDSA') throw new Error('the checkpoint is not signed by a key of this gateway');
    const key = await crypto.subtle.importKey('jwk', { kty: 'OKP', crv: 'Ed25519', x: jwk.x }, { name: 'Ed25519' }, false, ['verify']);
    const ok = await crypto.subtle.verify({ name: 'Ed25519' }, key, b64url(signature), new TextEncoder().encode(head + '.' + payload));
    if (!ok) throw new Error('the checkpoint signature does not verify');
    return JSON.parse(new TextDecoder().decode(b64url(payload)));
  }
  async function run() {
    const table = document.getElementById('journal-entries');
    const summary = document.getElementById('proof-summary');
    if (!table || !summary) return;
    const set = (cell, verified, text) => { cell.textContent = text; cell.classList.add(verified ? 'proof-verified' : 'proof-failed'); };
    try {
      summary.textContent = 'checking…';
      const id = table.dataset.transfer;
      const [proved, jwks] = await Promise.all([
        fetch('/v1/audit/proof/' + encodeURIComponent(id), { credentials: 'same-origin' }).then((r) => { if (!r.ok) throw new Error('the proofs could not be fetched (' + r.status + ')'); return r.json(); }),
        fetch('/.well-known/jwks.json', { credentials: 'same-origin' }).then((r) => r.json()),
      ]);
      const checkpoint = await verifyCheckpoint(proved.checkpoint.jws, jwks);
      const root = b64(checkpoint.rootHash);
      let failed = 0, verified = 0;
      for (const row of table.querySelectorAll('tr[data-seq]')) {
        const cell = row.querySelector('.proof');
        const seq = Number(row.dataset.seq);
        const proof = proved.proofs.find((p) => p.leafIndex === seq);
        if (!proof) { cell.textContent = 'not yet under a checkpoint'; continue; }
        const leaf = await leafHash(row.querySelector('.entry-text').textContent);
        const reached = equal(leaf, b64(proof.leafHash)) && proof.treeSize === checkpoint.treeSize ? await rootFrom(seq, proof.treeSize, leaf, proof.proof.map(b64)) : undefined;
        if (reached && equal(reached, root)) { set(cell, true, 'verified'); verified += 1; } else { set(cell, false, 'failed: the entry is not in the signed log'); failed += 1; }
      }
      summary.textContent = failed === 0 ? verified + ' entries verified against checkpoint ' + checkpoint.treeSize + ' signed by this gateway' : failed + ' entries FAILED verification';
      summary.className = failed === 0 ? 'proof-verified' : 'proof-failed';
    } catch (error) {
      summary.textContent = 'verification failed: ' + error.message;
      summary.className = 'proof-failed';
    }
  }
  document.addEventListener('DOMContentLoaded', run);
})();
`;

// The overview's charts: uPlot (served from the npm package by the gateway) draws the per-period
// table's own values — transfers, then MiB, one line per outcome — so a chart never says a number the
// table does not. Options only through JavaScript (uPlot styles through the CSSOM, allowed by the CSP).
export const OVERVIEW_CHARTS_JS = `
'use strict';
(function () {
  const OUTCOMES = [['allowed', '#0a6b2a'], ['denied', '#a30000'], ['quarantined', '#8a4b00'], ['refused-by-peer', '#6a1b9a'], ['received', '#0b4f9c']];
  function valuesOf(table, attribute) {
    const rows = [...table.querySelectorAll('tbody tr[data-key]')];
    const x = rows.map((row) => Date.parse(row.dataset.key + 'T00:00:00Z') / 1000);
    const series = OUTCOMES.map(([outcome]) => rows.map((row) => {
      const cell = row.querySelector('td[data-outcome="' + outcome + '"][' + attribute + ']');
      const value = cell ? Number(cell.getAttribute(attribute)) : 0;
      return attribute === 'data-bytes' ? value / 1048576 : value;
    }));
    return [x, ...series];
  }
  function draw() {
    if (typeof uPlot !== 'function') return;
    for (const holder of document.querySelectorAll('[data-chart]')) {
      const table = document.getElementById(holder.dataset.source);
      if (!table) continue;
      const bytes = holder.dataset.chart === 'bytes';
      const data = valuesOf(table, bytes ? 'data-bytes' : 'data-transfers');
      if (data[0].length === 0) { holder.textContent = 'Nothing to chart in this period.'; continue; }
      const width = Math.max(320, Math.min(holder.parentElement.clientWidth || 640, 960));
      new uPlot({
        width, height: 240,
        scales: { x: { time: true } },
        axes: [{}, { label: bytes ? 'MiB' : 'transfers' }],
        series: [{ label: 'period' }, ...OUTCOMES.map(([outcome, colour]) => ({ label: outcome, stroke: colour, width: 2, points: { show: true } }))],
      }, data, holder);
      holder.dataset.drawn = String(data[0].length);
    }
  }
  document.addEventListener('DOMContentLoaded', draw);
})();
`;
