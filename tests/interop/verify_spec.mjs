// Independent check of docs/spec/crypto.md against tests/interop/crypto_vectors.json.
// Written from the spec alone, using libsodium-wrappers-sumo and Node's own crypto (SHA-256).
// Run: (cd tests/interop && npm ci) && node tests/interop/verify_spec.mjs
import { createRequire } from 'node:module';
import { createHash } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join } from 'node:path';

const here = dirname(fileURLToPath(import.meta.url));
// The package's ESM entry (0.7.16) imports a file it does not ship; load the CommonJS build.
const require = createRequire(import.meta.url);
const sodium = require('libsodium-wrappers-sumo');
await sodium.ready;

const V = JSON.parse(readFileSync(join(here, 'crypto_vectors.json'), 'utf8'));

// ---------------------------------------------------------------- helpers
let passed = 0;
let failed = 0;
function check(name, fn) {
  let reason;
  try {
    const r = fn();
    if (r !== true) reason = typeof r === 'string' ? r : 'check returned false';
  } catch (e) {
    reason = `exception: ${e && e.message ? e.message : e}`;
  }
  if (reason === undefined) { passed++; console.log(`ok ${name}`); }
  else { failed++; console.log(`FAIL ${name}: ${reason}`); }
}
const hex = (b) => sodium.to_hex(b);
const unhex = (s) => sodium.from_hex(s);
const ascii = (s) => {
  const out = new Uint8Array(s.length);
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c > 0x7f) throw new Error('non-ASCII string');
    out[i] = c;
  }
  return out;
};
const cat = (...parts) => {
  const n = parts.reduce((a, p) => a + p.length, 0);
  const out = new Uint8Array(n);
  let o = 0;
  for (const p of parts) { out.set(p, o); o += p.length; }
  return out;
};
const eq = (a, b) => a.length === b.length && a.every((x, i) => x === b[i]);
const expectHex = (what, got, want) =>
  hex(got) === want.toLowerCase() ? true : `${what}: got ${hex(got)}, want ${want}`;
const u8 = (n) => Uint8Array.of(n);
const u32le = (n) => { const b = new Uint8Array(4); new DataView(b.buffer).setUint32(0, n, true); return b; };
const readU32le = (b, o) => new DataView(b.buffer, b.byteOffset, b.byteLength).getUint32(o, true);
const readU64le = (b, o) => new DataView(b.buffer, b.byteOffset, b.byteLength).getBigUint64(o, true);

// BLAKE2b-256, no key
const H = (data) => sodium.crypto_generichash(32, data, null);
// DomainHash(tag, data) = BLAKE2b-256(tag || 0x00 || data)
const domainHash = (tag, data) => H(cat(ascii(tag), u8(0), data));

// ---------------------------------------------------------------- 2. signed messages
function signedMessage(tag, chainId, payload) {
  if (chainId.length < 1 || chainId.length > 64) throw new Error('chain_id must be 1..64 bytes');
  return cat(ascii(tag), u8(0), u8(chainId.length), chainId, payload);
}

{
  const s = V.signature;
  // Vector encoding: tag and chain_id are plain ASCII strings, payload/seed/... are hex.
  const msg = signedMessage(s.tag, ascii(s.chain_id), unhex(s.payload));
  check('signature/spec-example', () => expectHex('example',
    signedMessage('ertr/tx/v1', ascii('c1'), ascii('xy')), '657274722f74782f7631000263317879'));
  check('signature/message', () => expectHex('message', msg, s.message));
  const kp = sodium.crypto_sign_seed_keypair(unhex(s.seed));
  check('signature/public_key', () => expectHex('public_key', kp.publicKey, s.public_key));
  check('signature/verifies', () =>
    sodium.crypto_sign_verify_detached(unhex(s.signature), msg, unhex(s.public_key)) || 'verify failed');
  check('signature/deterministic', () =>
    expectHex('fresh signature', sodium.crypto_sign_detached(msg, kp.privateKey), s.signature));
  check('signature/other-tag-rejected', () =>
    !sodium.crypto_sign_verify_detached(unhex(s.signature),
      signedMessage('ertr/tx/v1', ascii(s.chain_id), unhex(s.payload)), kp.publicKey) || 'verified under other tag');
  check('signature/other-chain-rejected', () =>
    !sodium.crypto_sign_verify_detached(unhex(s.signature),
      signedMessage(s.tag, ascii(s.chain_id + 'x'), unhex(s.payload)), kp.publicKey) || 'verified under other chain');
}

// ---------------------------------------------------------------- 3. txid
check('txid', () => expectHex('txid', domainHash('ertr/txid/v1', unhex(V.txid.body)), V.txid.id));
check('txleaf', () =>
  expectHex('txleaf', domainHash('ertr/txleaf/v1', unhex(V.txleaf.transaction)), V.txleaf.leaf));

// ---------------------------------------------------------------- 3. merkle
const leafHash = (d) => H(cat(u8(0), d));
const nodeHash = (l, r) => H(cat(u8(1), l, r));
const largestPow2Below = (n) => { let k = 1; while (k * 2 < n) k *= 2; return k; };
function mth(D) {
  if (D.length === 0) return H(new Uint8Array(0));
  if (D.length === 1) return leafHash(D[0]);
  const k = largestPow2Below(D.length);
  return nodeHash(mth(D.slice(0, k)), mth(D.slice(k)));
}
// RFC 6962 2.1.1 PATH(m, D[n])
function auditPath(m, D) {
  if (D.length <= 1) return [];
  const k = largestPow2Below(D.length);
  return m < k ? [...auditPath(m, D.slice(0, k)), mth(D.slice(k))]
               : [...auditPath(m - k, D.slice(k)), mth(D.slice(0, k))];
}
// RFC 9162 2.1.3.2
function verifyInclusion(leafIndex, treeSize, leafHashValue, path, root) {
  if (leafIndex >= treeSize) return false;
  let fn = leafIndex, sn = treeSize - 1, r = leafHashValue;
  for (const p of path) {
    if (sn === 0) return false;
    if ((fn & 1) === 1 || fn === sn) {
      r = nodeHash(p, r);
      if ((fn & 1) === 0) {
        while (!((fn & 1) === 1 || fn === 0)) { fn >>= 1; sn >>= 1; }
      }
    } else {
      r = nodeHash(r, p);
    }
    fn >>= 1; sn >>= 1;
  }
  return sn === 0 && eq(r, root);
}
{
  const m = V.merkle;
  const D = m.leaves.map(unhex); // the leaves are transaction leaves d[i]; leaf(d) is applied here
  const root = unhex(m.root);
  const path = m.proof_path.map(unhex);
  check('merkle/root', () => expectHex('root', mth(D), m.root));
  check('merkle/empty_root', () => expectHex('empty_root', mth([]), m.empty_root));
  check('merkle/proof-verifies', () =>
    verifyInclusion(m.proof_index, D.length, leafHash(D[m.proof_index]), path, root) || 'inclusion proof rejected');
  check('merkle/proof-equals-audit-path', () => {
    const mine = auditPath(m.proof_index, D).map(hex);
    return mine.join() === m.proof_path.join() ? true : `audit path ${mine} != ${m.proof_path}`;
  });
  check('merkle/all-proofs-verify', () => {
    for (let i = 0; i < D.length; i++)
      if (!verifyInclusion(i, D.length, leafHash(D[i]), auditPath(i, D), root)) return `index ${i} rejected`;
    return true;
  });
  check('merkle/wrong-proof-rejected', () => {
    const bad = path.map((p) => p.slice()); bad[1][0] ^= 1;
    if (verifyInclusion(m.proof_index, D.length, leafHash(D[m.proof_index]), bad, root)) return 'tampered path accepted';
    if (verifyInclusion(m.proof_index ^ 1, D.length, leafHash(D[m.proof_index]), path, root)) return 'wrong index accepted';
    return true;
  });
}

// ---------------------------------------------------------------- 4. payload ciphertext
const MAGIC_PLD = ascii('ERTRPLD1');
const ABYTES = sodium.crypto_secretstream_xchacha20poly1305_ABYTES; // 17
const TAG_MESSAGE = sodium.crypto_secretstream_xchacha20poly1305_TAG_MESSAGE; // 0
const TAG_FINAL = sodium.crypto_secretstream_xchacha20poly1305_TAG_FINAL; // 3
const SS_HEADERBYTES = sodium.crypto_secretstream_xchacha20poly1305_HEADERBYTES; // 24

// Returns the plaintext or throws with a reason.
function decryptPayload(ct, dataKey) {
  if (ct.length < 36) throw new Error('shorter than header');
  if (!eq(ct.subarray(0, 8), MAGIC_PLD)) throw new Error('bad magic');
  const chunkSize = readU32le(ct, 8);
  if (chunkSize < 1024 || chunkSize > 16 * 1024 * 1024) throw new Error('chunk_size out of range');
  const ad = ct.slice(0, 12);
  const state = sodium.crypto_secretstream_xchacha20poly1305_init_pull(ct.slice(12, 12 + SS_HEADERBYTES), dataKey);
  const out = [];
  let off = 36;
  if (off === ct.length) throw new Error('no chunks');
  while (off < ct.length) {
    const len = Math.min(chunkSize + ABYTES, ct.length - off);
    const last = off + len === ct.length;
    if (len < ABYTES) throw new Error('chunk shorter than 17 bytes');
    let res;
    try { res = sodium.crypto_secretstream_xchacha20poly1305_pull(state, ct.slice(off, off + len), ad); }
    catch (e) { res = false; }
    if (!res) throw new Error(`pull failed at offset ${off}`);
    if (!last && res.tag !== TAG_MESSAGE) throw new Error(`non-last chunk has tag ${res.tag}`);
    if (last && res.tag !== TAG_FINAL) throw new Error(`last chunk has tag ${res.tag}, not FINAL`);
    // Spec: the last chunk holds 1..chunk_size bytes, 0 only when the whole payload is empty.
    if (last && res.message.length === 0 && off !== 36) throw new Error('empty final chunk after data');
    out.push(res.message);
    off += len;
  }
  return cat(...out);
}

function encryptPayload(pt, dataKey, chunkSize) {
  const header0 = cat(MAGIC_PLD, u32le(chunkSize));
  const { state, header: ss } = sodium.crypto_secretstream_xchacha20poly1305_init_push(dataKey);
  const parts = [header0, ss];
  const n = Math.max(1, Math.ceil(pt.length / chunkSize));
  for (let i = 0; i < n; i++) {
    const p = pt.subarray(i * chunkSize, Math.min(pt.length, (i + 1) * chunkSize));
    parts.push(sodium.crypto_secretstream_xchacha20poly1305_push(state, p, header0,
      i === n - 1 ? TAG_FINAL : TAG_MESSAGE));
  }
  return cat(...parts);
}

const rejects = (fn) => { try { fn(); return 'accepted'; } catch (e) { return true; } };

// ---------------------------------------------------------------- 5. envelopes + record
{
  const r = V.record;
  const pk = unhex(r.institution_public_key);
  const sk = unhex(r.institution_secret_key);
  const ct = unhex(r.ciphertext);
  const pt = unhex(r.plaintext);
  check('record/institution-keypair', () =>
    expectHex('X25519 public key from secret', sodium.crypto_scalarmult_base(sk), r.institution_public_key));
  let dataKey = null;
  check('record/envelope-opens', () => {
    const env = unhex(r.envelope);
    if (env.length !== 80) return `envelope is ${env.length} bytes, not 80`;
    dataKey = sodium.crypto_box_seal_open(env, pk, sk);
    return dataKey.length === 32 ? true : `data key is ${dataKey.length} bytes`;
  });
  check('record/ciphertext_digest', () =>
  expectHex('SHA-256(ciphertext)', createHash('sha256').update(ct).digest(), r.ciphertext_digest));
  check('record/size-formula', () => {
    const cs = readU32le(ct, 8);
    const want = 36 + pt.length + 17 * Math.max(1, Math.ceil(pt.length / cs));
    return ct.length === want ? true : `ciphertext ${ct.length} bytes, formula gives ${want}`;
  });
  check('record/decrypts', () => {
    if (!dataKey) return 'no data key';
    const got = decryptPayload(ct, dataKey);
    return eq(got, pt) ? true : `plaintext mismatch (${got.length} vs ${pt.length} bytes)`;
  });
  if (dataKey) {
    const cs = readU32le(ct, 8);
    const C = cs + ABYTES;
    const flip = (i) => { const c = ct.slice(); c[i] ^= 0x01; return c; };
    check('record/reject-flip-magic', () => rejects(() => decryptPayload(flip(0), dataKey)));
    check('record/reject-flip-chunk_size', () => rejects(() => decryptPayload(flip(9), dataKey)));
    check('record/reject-flip-ss_header', () => rejects(() => decryptPayload(flip(20), dataKey)));
    check('record/reject-flip-first-chunk', () => rejects(() => decryptPayload(flip(36 + 100), dataKey)));
    check('record/reject-flip-last-byte', () => rejects(() => decryptPayload(flip(ct.length - 1), dataKey)));
    check('record/reject-every-single-byte-flip', () => {
      for (let i = 0; i < ct.length; i += 7)
        try { decryptPayload(flip(i), dataKey); return `flip at ${i} accepted`; } catch (e) { /* expected */ }
      return true;
    });
    check('record/reject-truncate-last-chunk-by-1', () => rejects(() => decryptPayload(ct.slice(0, ct.length - 1), dataKey)));
    check('record/reject-drop-last-chunk', () => {
      const nFull = Math.floor((ct.length - 36) / C);
      const cut = 36 + nFull * C === ct.length ? ct.length - C : 36 + nFull * C;
      return rejects(() => decryptPayload(ct.slice(0, cut), dataKey));
    });
    check('record/reject-header-only', () => rejects(() => decryptPayload(ct.slice(0, 36), dataKey)));
    check('record/reject-append-byte', () => rejects(() => decryptPayload(cat(ct, u8(0)), dataKey)));
    check('record/reject-append-chunk', () => rejects(() => decryptPayload(cat(ct, ct.slice(36, 36 + C)), dataKey)));
    check('record/reject-swap-chunks', () => {
      if ((ct.length - 36) < 2 * C) return true;
      const c = ct.slice();
      c.set(ct.subarray(36 + C, 36 + 2 * C), 36);
      c.set(ct.subarray(36, 36 + C), 36 + C);
      return rejects(() => decryptPayload(c, dataKey));
    });
    check('record/reject-drop-middle-chunk', () =>
      rejects(() => decryptPayload(cat(ct.subarray(0, 36), ct.subarray(36 + C)), dataKey)));
    check('record/reject-wrong-key', () => rejects(() => decryptPayload(ct, new Uint8Array(32))));
  }
  // Round trips of my own encoder through my own decoder (sizes per the spec formula).
  check('record/own-roundtrip', () => {
    const k = sodium.randombytes_buf(32);
    for (const [L, cs] of [[0, 1024], [1, 1024], [1024, 1024], [1025, 1024], [5000, 2048], [4096, 2048]]) {
      const p = sodium.randombytes_buf(L);
      const c = encryptPayload(p, k, cs);
      const want = 36 + L + 17 * Math.max(1, Math.ceil(L / cs));
      if (c.length !== want) return `L=${L}: size ${c.length} != ${want}`;
      if (!eq(decryptPayload(c, k), p)) return `L=${L}: roundtrip mismatch`;
    }
    return true;
  });
  check('record/reject-final-tag-early', () => {
    // two chunks, both FINAL: the first is FINAL before the end
    const k = sodium.randombytes_buf(32);
    const h0 = cat(MAGIC_PLD, u32le(1024));
    const { state, header } = sodium.crypto_secretstream_xchacha20poly1305_init_push(k);
    const c = cat(h0, header,
      sodium.crypto_secretstream_xchacha20poly1305_push(state, new Uint8Array(1024), h0, TAG_FINAL),
      sodium.crypto_secretstream_xchacha20poly1305_push(state, new Uint8Array(5), h0, TAG_FINAL));
    return rejects(() => decryptPayload(c, k));
  });
}

// ---------------------------------------------------------------- 6. key files
{
  const kf = V.key_file;
  const file = unhex(kf.file);
  function openKeyFile(file, passphrase, expectSecret) {
    if (file.length < 98 + 16 + 98) return 'file too short';
    if (!eq(file.subarray(0, 8), ascii('ERTRKEY1'))) return 'bad magic';
    const type = file[8];
    const S = type === 1 ? 64 : type === 2 ? 32 : -1;
    if (S < 0) return `unknown key type ${type}`;
    if (file[9] !== 2) return `unknown KDF ${file[9]}`;
    const ops = readU64le(file, 10), mem = readU64le(file, 18);
    if (ops < 1n || ops > 20n) return `opslimit ${ops} out of range`;
    if (mem < 8192n || mem > 1024n ** 3n) return `memlimit ${mem} out of range`;
    const salt = file.slice(26, 42), nonce = file.slice(42, 66), pubClear = file.slice(66, 98);
    if (file.length !== 98 + 16 + 98 + S) return `file is ${file.length} bytes, want ${98 + 16 + 98 + S}`;
    // Passphrase: the vector gives it as a plain string; its UTF-8 bytes are used.
    const K = sodium.crypto_pwhash(32, sodium.from_string(passphrase), salt, Number(ops), Number(mem),
      sodium.crypto_pwhash_ALG_ARGON2ID13);
    let inner;
    try { inner = sodium.crypto_secretbox_open_easy(file.slice(98), nonce, K); }
    catch (e) { return 'secretbox open failed'; }
    if (!eq(inner.subarray(0, 98), file.subarray(0, 98))) return 'embedded header differs from file header';
    const secret = inner.slice(98);
    let derived;
    if (type === 1) {
      derived = sodium.crypto_sign_seed_keypair(secret.slice(0, 32)).publicKey;
      if (!eq(secret.subarray(32), pubClear)) return 'secret[32..64) is not the public key';
    } else {
      derived = sodium.crypto_scalarmult_base(secret);
    }
    if (!eq(derived, pubClear)) return 'derived public key differs from clear one';
    return expectHex('secret', secret, expectSecret);
  }
  check('key_file/opens', () => openKeyFile(file, kf.passphrase, kf.secret_key));
  check('key_file/any-changed-byte-refused', () => {
    for (const i of [8, 9, 12, 20, 30, 50, 66, 97, 98, 120, file.length - 1]) {
      const f = file.slice(); f[i] ^= 0x01;
      let r;
      try { r = openKeyFile(f, kf.passphrase, kf.secret_key); } catch (e) { r = 'refused'; }
      if (r === true) return `flip at offset ${i} accepted`;
    }
    return true;
  });
  check('key_file/wrong-passphrase-rejected', () => {
    const K = sodium.crypto_pwhash(32, sodium.from_string(kf.passphrase + 'x'), file.slice(26, 42),
      Number(readU64le(file, 10)), Number(readU64le(file, 18)), sodium.crypto_pwhash_ALG_ARGON2ID13);
    return rejects(() => { const r = sodium.crypto_secretbox_open_easy(file.slice(98), file.slice(42, 66), K); if (!r) throw 0; });
  });
}

// ---------------------------------------------------------------- 7. state root (LtHash16)
{
  const st = V.state_root;
  const LANES = 1024;
  function lanesOf(key, value) {
    const seed = domainHash('ertr/lthash/v1', cat(u32le(key.length), key, value));
    // crypto_stream_chacha20_ietf keystream = XOR of zeros (the wrapper only exposes _xor)
    const ks = sodium.crypto_stream_chacha20_ietf_xor(new Uint8Array(2 * LANES), new Uint8Array(12), seed);
    const dv = new DataView(ks.buffer, ks.byteOffset, ks.byteLength);
    return Uint16Array.from({ length: LANES }, (_, i) => dv.getUint16(2 * i, true));
  }
  const acc = new Uint16Array(LANES);
  const add = (l, sign) => { for (let i = 0; i < LANES; i++) acc[i] = (acc[i] + sign * l[i]) & 0xffff; };
  const serialize = () => {
    const b = new Uint8Array(2 * LANES);
    const dv = new DataView(b.buffer);
    for (let i = 0; i < LANES; i++) dv.setUint16(2 * i, acc[i], true);
    return b;
  };
  const root = () => domainHash('ertr/state-root/v1', serialize());
  check('state_root/empty_root', () => expectHex('empty root', root(), st.empty_root));
  const ls = st.entries.map(([k, v]) => lanesOf(unhex(k), unhex(v)));
  ls.forEach((l) => add(l, 1));
  check('state_root/root', () => expectHex('root', root(), st.root));
  check('state_root/order-independent', () => {
    acc.fill(0); [...ls].reverse().forEach((l) => add(l, 1));
    return expectHex('root (reversed order)', root(), st.root);
  });
  check('state_root/remove-returns-to-empty', () => {
    ls.forEach((l) => add(l, -1));
    return expectHex('root after removing all', root(), st.empty_root);
  });
}

console.log(`interop: ${passed} passed, ${failed} failed`);
process.exit(failed === 0 ? 0 : 1);
