// The audit log checked in the visitor's own browser, without trusting this server: the log's Ed25519
// signature on its checkpoint and the witnesses' cosignatures (WebCrypto), the entries against the
// checkpoint's Merkle root (RFC 9162), and consistency with the checkpoint this browser verified on an
// earlier visit (kept in localStorage). A history rewritten since then is said in plain words, with the
// evidence to download.

const storageKey = 'glasshouse.audit.checkpoint';
const enc = new TextEncoder();

const b64 = (text) => Uint8Array.from(atob(text), (c) => c.charCodeAt(0));
const hex = (bytes) => [...bytes].map((b) => b.toString(16).padStart(2, '0')).join('');
const equal = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);

async function sha256(...parts) {
  const total = parts.reduce((n, p) => n + p.length, 0);
  const all = new Uint8Array(total);
  let at = 0;
  for (const p of parts) {
    all.set(p, at);
    at += p.length;
  }
  return new Uint8Array(await crypto.subtle.digest('SHA-256', all));
}

const leafHash = (entryHashHex) =>
  sha256(
    Uint8Array.of(0),
    Uint8Array.from(entryHashHex.match(/../g) ?? [], (h) => Number.parseInt(h, 16)),
  );
const nodeHash = (l, r) => sha256(Uint8Array.of(1), l, r);

/** MTH over leaf hashes (RFC 9162 2.1.1). */
async function root(leaves) {
  if (leaves.length === 0) return sha256();
  if (leaves.length === 1) return leaves[0];
  let k = 1;
  while (k * 2 < leaves.length) k *= 2;
  return nodeHash(await root(leaves.slice(0, k)), await root(leaves.slice(k)));
}

/** RFC 9162 2.1.4.2: does `proof` show that (first, firstRoot) is a prefix of (second, secondRoot)? */
async function verifyConsistency(first, second, proof, firstRoot, secondRoot) {
  if (first > second) return false;
  if (first === second) return proof.length === 0 && equal(firstRoot, secondRoot);
  if (first === 0) return proof.length === 0;
  if (proof.length === 0) return false;
  const odd = (x) => x % 2 === 1;
  const half = (x) => Math.floor(x / 2);
  let pow2 = first;
  while (pow2 > 1 && pow2 % 2 === 0) pow2 /= 2;
  const path = pow2 === 1 ? [firstRoot, ...proof] : [...proof];
  let fn = first - 1;
  let sn = second - 1;
  while (odd(fn)) {
    fn = half(fn);
    sn = half(sn);
  }
  let fr = path[0];
  let sr = path[0];
  for (const c of path.slice(1)) {
    if (sn === 0) return false;
    if (odd(fn) || fn === sn) {
      fr = await nodeHash(c, fr);
      sr = await nodeHash(c, sr);
      while (!odd(fn) && fn !== 0) {
        fn = half(fn);
        sn = half(sn);
      }
    } else {
      sr = await nodeHash(sr, c);
    }
    fn = half(fn);
    sn = half(sn);
  }
  return sn === 0 && equal(fr, firstRoot) && equal(sr, secondRoot);
}

/** A verifier key `<name>+<hex id>+<base64(type ‖ key)>`, its id checked. */
async function parseKey(text) {
  const match = /^([^\s+]+)\+([0-9a-f]{8})\+([A-Za-z0-9+/=]+)$/.exec(text.trim());
  if (!match) throw new Error('not a verifier key');
  const bytes = b64(match[3]);
  if (bytes.length !== 33) throw new Error('not an Ed25519 key');
  const id = (await sha256(enc.encode(`${match[1]}\n`), bytes)).slice(0, 4);
  if (hex(id) !== match[2]) throw new Error('key id does not match');
  const key = await crypto.subtle.importKey('raw', bytes.slice(1), { name: 'Ed25519' }, false, ['verify']);
  return { name: match[1], id, type: bytes[0], key, text: text.trim() };
}

/** A signed checkpoint: its text, origin, size, root and signature lines. */
function parseCheckpoint(note) {
  const split = note.lastIndexOf('\n\n');
  if (split < 0) throw new Error('not a signed note');
  const text = note.slice(0, split + 1);
  const [origin, size, rootB64] = text.split('\n');
  if (!/^\d+$/.test(size ?? '')) throw new Error('not a checkpoint');
  const signatures = note
    .slice(split + 2)
    .split('\n')
    .filter(Boolean)
    .map((line) => {
      const m = /^— (\S+) ([A-Za-z0-9+/=]+)$/.exec(line);
      if (!m) throw new Error('bad signature line');
      const bytes = b64(m[2]);
      return { name: m[1], id: bytes.slice(0, 4), bytes: bytes.slice(4) };
    });
  return { note, text, origin, size: Number(size), root: b64(rootB64 ?? ''), signatures };
}

async function signedBy(checkpoint, key) {
  for (const s of checkpoint.signatures) {
    if (s.name !== key.name || !equal(s.id, key.id)) continue;
    if (key.type === 1 && s.bytes.length === 64) {
      if (await crypto.subtle.verify('Ed25519', key.key, s.bytes, enc.encode(checkpoint.text))) return true;
    } else if (key.type === 4 && s.bytes.length === 72) {
      const time = new DataView(s.bytes.buffer, s.bytes.byteOffset, 8).getBigUint64(0);
      const message = enc.encode(`cosignature/v1\ntime ${time}\n${checkpoint.text}`);
      if (await crypto.subtle.verify('Ed25519', key.key, s.bytes.slice(8), message)) return true;
    }
  }
  return false;
}

async function text(path) {
  const response = await fetch(path);
  if (!response.ok)
    throw Object.assign(new Error(`${path} answered ${response.status}`), { status: response.status });
  return response.text();
}

async function allEntries() {
  const entries = [];
  let after = '0';
  for (;;) {
    const response = await fetch(`/v1/audit?after=${encodeURIComponent(after)}&limit=1000`);
    if (!response.ok) throw new Error(`/v1/audit answered ${response.status}`);
    const page = await response.json();
    entries.push(...(page.items ?? []));
    if (typeof page.next !== 'string' || !page.items?.length) return entries;
    after = page.next;
  }
}

function readSaved() {
  try {
    const saved = JSON.parse(localStorage.getItem(storageKey) ?? 'null');
    return saved && typeof saved.note === 'string' && typeof saved.key === 'string' ? saved : undefined;
  } catch {
    return undefined;
  }
}

/**
 * Checks the log and compares it with what this browser saw last time. Resolves with
 * `{ state: 'verified', size, witnesses, first }`, `{ state: 'rewritten', reason, evidence, savedAt }`
 * or `{ state: 'unavailable', reason }`. The saved checkpoint moves forward only after a success.
 */
export async function checkTransparency() {
  let served;
  let key;
  let witnessKeys = [];
  try {
    const [note, keyText, witnesses] = await Promise.all([
      text('/v1/audit/checkpoint'),
      text('/v1/audit/key'),
      fetch('/v1/audit/witnesses').then((r) => (r.ok ? r.json() : { items: [] })),
    ]);
    served = parseCheckpoint(note);
    key = await parseKey(keyText);
    witnessKeys = await Promise.all(
      (witnesses.items ?? []).map((w) => parseKey(w.key).catch(() => undefined)),
    );
  } catch (err) {
    return { state: 'unavailable', reason: String(err.message ?? err) };
  }
  const saved = readSaved();
  const entries = await allEntries().catch(() => undefined);
  if (!entries) return { state: 'unavailable', reason: 'the entries could not be loaded' };
  let proof;
  const fail = (reason) => ({
    state: 'rewritten',
    reason,
    savedAt: saved?.savedAt,
    evidence: {
      kind: 'glasshouse-audit-evidence',
      createdAt: new Date().toISOString(),
      source: location.origin,
      reason,
      logKey: saved?.key ?? key.text,
      savedCheckpoint: saved?.note,
      servedCheckpoint: served.note,
      consistencyProof: proof,
      entries: entries.slice(0, Math.max(served.size, saved ? parseCheckpoint(saved.note).size : 0)),
    },
  });
  if (saved && saved.key !== key.text)
    return fail(`the log now signs with another key (${key.text}) than on your last visit (${saved.key})`);
  if (!(await signedBy(served, key))) return fail('the checkpoint is not signed by the log key');
  const leaves = await Promise.all(entries.map((e) => leafHash(String(e.hash))));
  if (saved) {
    const old = parseCheckpoint(saved.note);
    if (!(await signedBy(old, key)))
      return { state: 'unavailable', reason: 'the saved checkpoint is damaged' };
    if (old.size > served.size)
      return fail(
        `the log now shows ${served.size} entries, fewer than the ${old.size} it showed on your last visit`,
      );
    const answer = await fetch(`/v1/audit/proof/consistency?from=${old.size}&to=${served.size}`)
      .then((r) => (r.ok ? r.json() : undefined))
      .catch(() => undefined);
    proof = { from: old.size, to: served.size, proof: answer?.proof };
    const hashes = Array.isArray(answer?.proof) ? answer.proof.map(b64) : undefined;
    if (!hashes || !(await verifyConsistency(old.size, served.size, hashes, old.root, served.root)))
      return fail(
        `the log cannot prove that today's history extends the one of ${old.size} entries you saw last time`,
      );
    if (old.size > leaves.length || !equal(await root(leaves.slice(0, old.size)), old.root))
      return fail(`the first ${old.size} entries shown today are not the ones you saw last time`);
  }
  if (served.size > leaves.length || !equal(await root(leaves.slice(0, served.size)), served.root))
    return fail("the entries shown do not match the log's signed checkpoint");
  let witnesses = 0;
  for (const w of witnessKeys) if (w && w.type === 4 && (await signedBy(served, w))) witnesses += 1;
  localStorage.setItem(
    storageKey,
    JSON.stringify({ note: served.note, key: key.text, savedAt: new Date().toISOString() }),
  );
  return { state: 'verified', size: served.size, witnesses, first: !saved, root: hex(served.root) };
}
