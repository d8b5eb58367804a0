// A small Node.js client of the ertrchain node API (service ertr.v1.Ertr, proto/ertr/v1/api.proto).
//
// Every call is authenticated with the caller's Ed25519 user key through four metadata headers
// (see the header comment of api.proto):
//   ertr-user-key      hex public key
//   ertr-timestamp-ms  decimal Unix milliseconds
//   ertr-nonce         16 random bytes, hex
//   ertr-signature     Ed25519 over the signed message (docs/spec/crypto.md section 2)
//       "ertr/api-request/v1" || 0x00 || u8(len(chain_id)) || chain_id ||
//       u8(len(method)) || method || u64le(timestamp_ms) || nonce || BLAKE2b-256(request)
// The node checks the signature over the request bytes exactly as received. This module
// serializes every request once, with protobufjs (canonically: fields in number order, defaults
// left out), signs those bytes and sends exactly those bytes.
//
// Node 18+; ES module. Dependencies: @grpc/grpc-js, @grpc/proto-loader, protobufjs,
// libsodium-wrappers-sumo.

import { createHash } from 'node:crypto';
import { createRequire } from 'node:module';
import { readFileSync, createReadStream, statSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, join, isAbsolute } from 'node:path';
import grpc from '@grpc/grpc-js';
import protoLoader from '@grpc/proto-loader';
import protobuf from 'protobufjs';

// libsodium-wrappers-sumo 0.7.16's ESM entry imports a file the package does not ship: load
// its CommonJS build instead.
const require = createRequire(import.meta.url);
const sodium = require('libsodium-wrappers-sumo');
await sodium.ready;

const here = dirname(fileURLToPath(import.meta.url));
/** The repository's proto directory (this file lives in examples/js/). */
export const PROTO_ROOT = join(here, '..', '..', 'proto');
const API_PROTO = 'ertr/v1/api.proto';
const SERVICE = 'ertr.v1.Ertr';

export const API_DOMAIN = 'ertr/api-request/v1';
export const TX_DOMAIN = 'ertr/tx/v1';
export const MAX_UPLOAD_CHUNK = 1 << 20;  // we send 1 MiB chunks (the node accepts up to 4 MiB)

// ------------------------------------------------------------------------------------ protos

// protobufjs: the reflection used to encode requests (and to decode genesis / bodies).
const root = new protobuf.Root();
root.resolvePath = (origin, target) => (isAbsolute(target) ? target : join(PROTO_ROOT, target));
root.loadSync(join(PROTO_ROOT, API_PROTO), { keepCase: true });
root.resolveAll();
const T = (name) => root.lookupType(`ertr.v1.${name}`);
export const types = {
  SignedTransaction: T('SignedTransaction'),
  TransactionBody: T('TransactionBody'),
  UploadRecordRequest: T('UploadRecordRequest'),
  GetRecordRequest: T('GetRecordRequest'),
  GetAuditTrailRequest: T('GetAuditTrailRequest'),
  SubmitTransactionRequest: T('SubmitTransactionRequest'),
};
const RecordKindEnum = root.lookupEnum('ertr.v1.RecordKind');
const ServiceReflection = root.lookupService(SERVICE);

// @grpc/proto-loader: the service definition (method paths, streaming) and response decoders.
const packageDefinition = protoLoader.loadSync(API_PROTO, {
  includeDirs: [PROTO_ROOT],
  keepCase: true,
  longs: String,   // uint64 as decimal strings
  enums: String,   // enum values by name
  defaults: true,
  oneofs: true,    // adds the name of the set oneof member, e.g. msg.part === 'chunk'
});
const serviceDefinition = packageDefinition[SERVICE];
if (!serviceDefinition) throw new Error(`${API_PROTO} does not define ${SERVICE}`);

/** Record kinds by ertrctl's names ("rt-plan" -> 3, ...). */
export const RECORD_KINDS = Object.fromEntries(
  Object.entries(RecordKindEnum.values)
    .filter(([, v]) => v !== 0)
    .map(([name, v]) => [name.replace(/^RECORD_KIND_/, '').toLowerCase().replace(/_/g, '-'), v]));

export function recordKindFromName(name) {
  const v = RECORD_KINDS[name];
  if (v === undefined) {
    throw new Error(`unknown record kind '${name}'; one of: ${Object.keys(RECORD_KINDS).join(', ')}`);
  }
  return v;
}

// ---------------------------------------------------------------------- canonical encoding

function isDefaultScalar(field, v) {
  if (field.resolvedType instanceof protobuf.Enum) {
    return v === 0 || (typeof v === 'string' && field.resolvedType.values[v] === 0);
  }
  switch (field.type) {
    case 'bytes': return v.length === 0;
    case 'string': return v === '';
    case 'bool': return v === false;
    default:  // numeric: number, bigint, decimal string or Long
      if (typeof v === 'object' && v !== null && typeof v.isZero === 'function') return v.isZero();
      return v === 0 || v === 0n || v === '0';
  }
}

// A copy of `obj` without the proto3 implicit-presence fields that are at their default value
// (a proto3 encoder leaves those out; protobufjs would write any field it was given).
function prune(type, obj, path = type.name) {
  if (obj === null || typeof obj !== 'object') throw new TypeError(`${path} must be an object`);
  for (const k of Object.keys(obj)) {
    if (!type.fields[k]) throw new TypeError(`${path} has no field '${k}'`);
  }
  const out = {};
  for (const field of type.fieldsArray) {
    field.resolve();
    let v = obj[field.name];
    if (v === undefined || v === null) continue;
    if (typeof v === 'bigint') v = v.toString();
    const where = `${path}.${field.name}`;
    if (field.map) throw new TypeError(`${where}: map fields are not supported`);
    const isMessage = field.resolvedType instanceof protobuf.Type;
    if (field.repeated) {
      if (!Array.isArray(v)) throw new TypeError(`${where} must be an array`);
      if (v.length) out[field.name] = isMessage ? v.map((x, i) => prune(field.resolvedType, x, `${where}[${i}]`)) : v;
      continue;
    }
    if (isMessage) { out[field.name] = prune(field.resolvedType, v, where); continue; }
    // Members of a (real) oneof and proto3 `optional` fields have explicit presence: kept.
    const explicit = field.partOf !== null && field.partOf !== undefined;
    if (!explicit && isDefaultScalar(field, v)) continue;
    out[field.name] = v;
  }
  return out;
}

/** The canonical proto3 encoding of `obj` as message `type` (a protobufjs Type). */
export function encodeCanonical(type, obj) {
  const msg = type.fromObject(prune(type, obj));
  return Buffer.from(type.encode(msg).finish());
}

// --------------------------------------------------------------------------- crypto helpers

const enc = new TextEncoder();
export const hex = (b) => Buffer.from(b).toString('hex');
export function unhex(s, bytes, what) {
  if (typeof s !== 'string' || !/^([0-9a-fA-F]{2})*$/.test(s) || (bytes && s.length !== 2 * bytes)) {
    throw new Error(`${what} must be ${bytes ? `${bytes} bytes in hex (${2 * bytes} characters)` : 'hex'}, got '${s}'`);
  }
  return Buffer.from(s, 'hex');
}
const cat = (...parts) => Buffer.concat(parts.map((p) => Buffer.from(p)));
const u8 = (n) => Buffer.from([n]);
function u64le(n) { const b = Buffer.alloc(8); b.writeBigUInt64LE(BigInt(n)); return b; }
const eq = (a, b) => a.length === b.length && Buffer.compare(Buffer.from(a), Buffer.from(b)) === 0;

/** BLAKE2b-256, no key. */
export const blake2b256 = (data) => Buffer.from(sodium.crypto_generichash(32, data, null));

/** The bytes every ertrchain signature is over (docs/spec/crypto.md section 2). */
export function signedMessage(tag, chainId, payload) {
  const id = enc.encode(chainId);
  if (id.length < 1 || id.length > 64) throw new Error(`chain id must be 1..64 bytes, got ${id.length}`);
  return cat(enc.encode(tag), u8(0), u8(id.length), id, payload);
}

/** Transaction id: BLAKE2b-256("ertr/txid/v1" || 0x00 || body). */
export const transactionId = (body) => blake2b256(cat(enc.encode('ertr/txid/v1'), u8(0), body));

// -------------------------------------------------------------------------------- key files

const KEY_MAGIC = Buffer.from('ERTRKEY1', 'ascii');

/**
 * Opens an encrypted Ed25519 key file (docs/spec/crypto.md section 6).
 * `passphrase`: a string (its UTF-8 bytes are used as they are) or bytes.
 * Returns { publicKey: Buffer(32), secretKey: Uint8Array(64) }.
 */
export function openKeyFile(path, passphrase) {
  let file;
  try { file = readFileSync(path); } catch (e) { throw new Error(`cannot read key file ${path}: ${e.message}`); }
  const bad = (why) => new Error(`key file ${path}: ${why}`);
  if (file.length < 8 || !eq(file.subarray(0, 8), KEY_MAGIC)) throw bad('not an ertrchain key file (no ERTRKEY1 magic)');
  const type = file[8];
  if (type === 2) throw bad('holds an X25519 encryption key; a user key (Ed25519) is needed to sign calls');
  if (type !== 1) throw bad(`unknown key type ${type}`);
  if (file[9] !== 2) throw bad(`unknown KDF ${file[9]} (only 2 = Argon2id v1.3 is defined)`);
  const ops = file.readBigUInt64LE(10);
  const mem = file.readBigUInt64LE(18);
  if (ops < 1n || ops > 20n) throw bad(`opslimit ${ops} out of range 1..20`);
  if (mem < 8192n || mem > 1024n ** 3n) throw bad(`memlimit ${mem} out of range 8 KiB..1 GiB`);
  const S = 64;
  if (file.length !== 98 + 16 + 98 + S) throw bad(`is ${file.length} bytes, an Ed25519 key file has ${98 + 16 + 98 + S}`);
  const salt = file.subarray(26, 42);
  const nonce = file.subarray(42, 66);
  const publicKey = Buffer.from(file.subarray(66, 98));
  const pass = typeof passphrase === 'string' ? enc.encode(passphrase) : passphrase;
  const K = sodium.crypto_pwhash(32, pass, salt, Number(ops), Number(mem), sodium.crypto_pwhash_ALG_ARGON2ID13);
  let inner;
  try {
    inner = sodium.crypto_secretbox_open_easy(file.subarray(98), nonce, K);
  } catch {
    inner = null;
  } finally {
    sodium.memzero(K);
  }
  if (!inner) throw bad('wrong passphrase, or the file was modified');
  try {
    if (!eq(inner.subarray(0, 98), file.subarray(0, 98))) throw bad('the encrypted header differs from the file header (modified file)');
    const secretKey = inner.slice(98);
    const derived = sodium.crypto_sign_seed_keypair(secretKey.subarray(0, 32)).publicKey;
    if (!eq(derived, publicKey) || !eq(secretKey.subarray(32), publicKey)) {
      sodium.memzero(secretKey);
      throw bad('the secret key does not match the public key in the file');
    }
    return { publicKey, secretKey };
  } finally {
    sodium.memzero(inner);
  }
}

/** A passphrase file's contents, with one trailing newline (and a carriage return before it) removed. */
export function readPassphraseFile(path) {
  let s;
  try { s = readFileSync(path, 'utf8'); } catch (e) { throw new Error(`cannot read passphrase file ${path}: ${e.message}`); }
  if (s.endsWith('\n')) s = s.slice(0, -1);
  if (s.endsWith('\r')) s = s.slice(0, -1);
  return s;
}

/** The chain id from a genesis.bin (a serialized SignedTransaction whose body has chain_id). */
export function chainIdFromGenesis(path) {
  let bytes;
  try { bytes = readFileSync(path); } catch (e) { throw new Error(`cannot read genesis ${path}: ${e.message}`); }
  try {
    const tx = types.SignedTransaction.decode(bytes);
    const body = types.TransactionBody.decode(tx.body);
    if (!body.chain_id || !body.genesis) throw new Error('it is not a genesis transaction');
    return body.chain_id;
  } catch (e) {
    throw new Error(`${path} is not a genesis.bin: ${e.message}`);
  }
}

// ---------------------------------------------------------------------------------- errors

const STATUS_NAMES = Object.fromEntries(Object.entries(grpc.status).map(([k, v]) => [v, k]));

/** A failed call: `code` is the gRPC status name (e.g. 'PERMISSION_DENIED'). */
export class ErtrError extends Error {
  constructor(method, code, details) {
    super(`${method}: ${code}: ${details}`);
    this.name = 'ErtrError';
    this.method = method;
    this.code = code;
    this.details = details;
  }
  static fromGrpc(method, err) {
    if (err instanceof ErtrError) return err;
    if (err && typeof err.code === 'number') {
      let details = err.details || err.message;
      if (err.code === grpc.status.UNAVAILABLE && /connect/i.test(details)) {
        details += ' (is the node running at this address? a node whose API serves TLS needs its CA certificate)';
      }
      return new ErtrError(method, STATUS_NAMES[err.code] || `code ${err.code}`, details);
    }
    return err;
  }
}

// ---------------------------------------------------------------------------------- client

export function isLoopback(address) {
  const host = address.slice(0, address.lastIndexOf(':'));
  return host === 'localhost' || host === '[::1]' || /^127\.\d+\.\d+\.\d+$/.test(host);
}

const identity = (b) => b;

export class ErtrClient {
  /**
   * address: HOST:PORT of the node's API. chainId: from chainIdFromGenesis. key: from openKeyFile.
   * tlsCaPem: the CA certificate (PEM, string or Buffer) of a remote node's API; without it only a
   * loopback address is accepted (plaintext never crosses a network).
   */
  constructor({ address, chainId, key, tlsCaPem }) {
    if (!address || address.lastIndexOf(':') < 1) throw new Error(`node address must be HOST:PORT, got '${address}'`);
    if (!chainId) throw new Error('the chain id is not known (read it from genesis.bin)');
    if (!key || !key.secretKey || !key.publicKey) throw new Error('a user key (openKeyFile) is needed');
    let creds;
    if (tlsCaPem) {
      creds = grpc.credentials.createSsl(Buffer.from(tlsCaPem));
    } else if (isLoopback(address)) {
      creds = grpc.credentials.createInsecure();
    } else {
      throw new Error(`node ${address} is not on this machine: give the CA certificate of its API ` +
        '(--tls-ca); records never cross a network unencrypted');
    }
    this.chainId = chainId;
    this.key = key;
    this.client = new grpc.Client(address, creds, {
      'grpc.max_receive_message_length': 16 << 20,
    });
  }

  close() { this.client.close(); }

  /** The four authentication headers for one call. */
  // (timestampMs and nonce are parameters for tests only.)
  authMetadata(path, requestBytes, { timestampMs = Date.now(), nonce = sodium.randombytes_buf(16) } = {}) {
    if (path.length > 255) throw new Error('method path too long');
    const payload = cat(u8(path.length), enc.encode(path), u64le(timestampMs), nonce, blake2b256(requestBytes));
    const signature = sodium.crypto_sign_detached(signedMessage(API_DOMAIN, this.chainId, payload), this.key.secretKey);
    const md = new grpc.Metadata();
    md.set('ertr-user-key', hex(this.key.publicKey));
    md.set('ertr-timestamp-ms', String(timestampMs));
    md.set('ertr-nonce', hex(nonce));
    md.set('ertr-signature', hex(signature));
    return md;
  }

  method(name) {
    const m = serviceDefinition[name];
    if (!m) throw new Error(`${SERVICE} has no method ${name}`);
    return m;
  }

  /** Calls a unary method with a plain request object; resolves to the decoded response. */
  unary(name, request, { deadlineSeconds = 30 } = {}) {
    const m = this.method(name);
    const bytes = encodeCanonical(ServiceReflection.methods[name].resolvedRequestType, request);
    const md = this.authMetadata(m.path, bytes);
    return new Promise((resolve, reject) => {
      this.client.makeUnaryRequest(m.path, identity, m.responseDeserialize, bytes, md,
        { deadline: Date.now() + deadlineSeconds * 1000 },
        (err, resp) => (err ? reject(ErtrError.fromGrpc(name, err)) : resolve(resp)));
    });
  }

  getStatus() { return this.unary('GetStatus', {}, { deadlineSeconds: 10 }); }

  /** subject: { record_id: Buffer } or { patient_pseudonym: Buffer }. */
  async getAuditTrail(subject) {
    const r = await this.unary('GetAuditTrail', subject);
    return r.entries;
  }

  getTransaction(txId) { return this.unary('GetTransaction', { tx_id: txId }); }
  listRecords(patientPseudonym) { return this.unary('ListRecords', { patient_pseudonym: patientPseudonym }); }

  /**
   * Submits a signed transaction { body, signature }. With waitForCommit, resolves when it is
   * committed and accepted (a rejection is an error naming the rule).
   */
  submitTransaction({ body, signature }, waitForCommit = true) {
    return this.unary('SubmitTransaction', { transaction: { body, signature }, wait_for_commit: waitForCommit },
      { deadlineSeconds: waitForCommit ? 90 : 30 });
  }

  /** Signs a serialized TransactionBody with this client's key (domain "ertr/tx/v1"). */
  signTransactionBody(body) {
    return Buffer.from(sodium.crypto_sign_detached(signedMessage(TX_DOMAIN, this.chainId, body), this.key.secretKey));
  }

  /**
   * Uploads a record's plaintext. source: a file path, a Buffer, or an async iterable of Buffers
   * (then give size). The node encrypts it and answers with the SubmitRecord transaction body to
   * sign (UploadRecordResponse). onProgress(sent, total) is optional.
   */
  async uploadRecord({ patientPseudonym, kind, source, size }, onProgress) {
    const name = 'UploadRecord';
    const m = this.method(name);
    let chunks;
    if (typeof source === 'string') {
      size = statSync(source).size;
      chunks = createReadStream(source, { highWaterMark: MAX_UPLOAD_CHUNK });
    } else if (Buffer.isBuffer(source) || source instanceof Uint8Array) {
      size = source.length;
      chunks = (function* () {
        for (let o = 0; o < source.length; o += MAX_UPLOAD_CHUNK) yield source.subarray(o, o + MAX_UPLOAD_CHUNK);
      })();
    } else {
      chunks = source;
    }
    const start = encodeCanonical(types.UploadRecordRequest, {
      start: { patient_pseudonym: patientPseudonym, kind, plaintext_size: size ?? 0 },
    });
    // The signature covers the first message (the `start` one) as sent.
    const md = this.authMetadata(m.path, start);
    let callError = null;
    let finished;
    const done = new Promise((resolve, reject) => { finished = { resolve, reject }; });
    const call = this.client.makeClientStreamRequest(m.path, identity, m.responseDeserialize, md, {},
      (err, resp) => {
        if (err) { callError = ErtrError.fromGrpc(name, err); finished.reject(callError); } else finished.resolve(resp);
      });
    // Writes one message, waiting for flow control; returns early if the call already ended.
    const ended = done.then(() => {}, () => {});
    const write = (bytes) => Promise.race([ended, new Promise((resolve) => {
      if (call.write(bytes)) resolve(); else call.once('drain', resolve);
    })]);
    const hasher = createHash('sha256');  // the plaintext's digest (docs/api.md)
    let sent = 0;
    try {
      await write(start);
      for await (const piece of chunks) {
        if (callError) break;  // the node refused: stop sending, report its status
        for (let o = 0; o < piece.length && !callError; o += MAX_UPLOAD_CHUNK) {
          const chunk = piece.subarray(o, o + MAX_UPLOAD_CHUNK);
          hasher.update(chunk);
          await write(encodeCanonical(types.UploadRecordRequest, { chunk }));
          sent += chunk.length;
          if (onProgress) onProgress(sent, size);
        }
      }
    } catch (e) {
      call.cancel();
      await done.catch(() => {});
      throw new Error(`${name}: reading the record failed after ${sent} bytes: ${e.message}`);
    }
    const digest = hasher.digest();
    if (!callError) await write(encodeCanonical(types.UploadRecordRequest, { end: { plaintext_digest: digest } }));
    call.end();
    const resp = await done;
    if (!eq(resp.plaintext_digest, digest) || BigInt(resp.plaintext_size) !== BigInt(sent)) {
      throw new Error(`${name}: the node says it received ${resp.plaintext_size} bytes with digest ` +
        `${hex(resp.plaintext_digest)}, we sent ${sent} bytes with digest ${hex(digest)}`);
    }
    return resp;
  }

  /**
   * Checks that the transaction body the node prepared for an upload is what we asked for
   * (our chain, our key as signer, a SubmitRecord for this patient and kind, and the ciphertext
   * the node reported), so that we never sign something else. Throws otherwise.
   */
  checkUploadBody(upload, { patientPseudonym, kind }) {
    const body = types.TransactionBody.toObject(types.TransactionBody.decode(upload.transaction_body),
      { longs: String, oneofs: true, defaults: true });
    const r = body.submit_record;
    const problems = [];
    if (body.chain_id !== this.chainId) problems.push(`chain_id is '${body.chain_id}', not '${this.chainId}'`);
    if (!eq(body.signer, this.key.publicKey)) problems.push('signer is not our key');
    if (body.payload !== 'submit_record' || !r) problems.push(`payload is '${body.payload}', not submit_record`);
    else {
      if (!eq(r.record_id, upload.record_id)) problems.push('record_id differs from the response');
      if (!eq(r.patient_pseudonym, patientPseudonym)) problems.push('patient_pseudonym is not ours');
      if (r.kind !== kind) problems.push(`kind is ${r.kind}, we uploaded ${kind}`);
      if (!eq(r.ciphertext_digest, upload.ciphertext_digest)) problems.push('ciphertext_digest differs from the response');
      if (r.ciphertext_size !== upload.ciphertext_size) problems.push('ciphertext_size differs from the response');
      const envs = r.envelopes.map((e) => e.institution_id).sort().join(',');
      if (envs !== [...upload.envelope_institutions].sort().join(',')) problems.push('key envelopes differ from envelope_institutions');
    }
    if (body.valid_until_height !== upload.valid_until_height) problems.push('valid_until_height differs from the response');
    if (problems.length) throw new Error(`the node's transaction body is not the one we asked for: ${problems.join('; ')}`);
    return body;
  }

  /**
   * Upload, check and sign the prepared SubmitRecord, submit it and wait for its commit.
   * Returns { upload, submit, txId }.
   */
  async submitRecord({ patientPseudonym, kind, source, size }, onProgress) {
    const upload = await this.uploadRecord({ patientPseudonym, kind, source, size }, onProgress);
    this.checkUploadBody(upload, { patientPseudonym, kind });
    const body = upload.transaction_body;
    const signature = this.signTransactionBody(body);
    const txId = transactionId(body);
    let submit;
    try {
      submit = await this.submitTransaction({ body, signature }, true);
    } catch (e) {
      if (e instanceof ErtrError) e.message = `${e.message} (transaction ${hex(txId)})`;
      throw e;
    }
    if (!eq(submit.tx_id, txId)) throw new Error(`SubmitTransaction: the node names transaction ${hex(submit.tx_id)}, we computed ${hex(txId)}`);
    return { upload, submit, txId };
  }

  /**
   * Reads a record: resolves to { info, data } once the stream ended OK (the node authenticated
   * the last chunk). On any error the received bytes are wiped and the promise rejects.
   */
  async getRecord(recordId, purpose = 'treatment') {
    const name = 'GetRecord';
    const m = this.method(name);
    const bytes = encodeCanonical(types.GetRecordRequest, { record_id: recordId, purpose });
    const md = this.authMetadata(m.path, bytes);
    const call = this.client.makeServerStreamRequest(m.path, identity, m.responseDeserialize, bytes, md, {});
    let info = null;
    const parts = [];
    try {
      for await (const msg of call) {
        if (msg.part === 'info') {
          if (info || parts.length) throw new Error(`${name}: a second info message in the stream`);
          info = msg.info;
        } else if (msg.part === 'chunk') {
          if (!info) throw new Error(`${name}: a chunk came before the info message`);
          parts.push(msg.chunk);
        } else {
          throw new Error(`${name}: a stream message with neither info nor chunk`);
        }
      }
    } catch (e) {
      for (const p of parts) p.fill(0);
      call.cancel();
      throw ErtrError.fromGrpc(name, e);
    }
    if (!info) throw new Error(`${name}: the stream ended without an info message`);
    const data = Buffer.concat(parts);
    for (const p of parts) p.fill(0);
    return { info, data };
  }
}
