#!/usr/bin/env node
// Submits a file as a treatment record with an already registered user key, waits for its
// commit, reads it back, checks it is bit-identical and prints the record's audit trail.
//
//   node submit-and-read.mjs --node 127.0.0.1:26800 --genesis genesis.bin --key user.key \
//       --passphrase-file pass.txt --patient <32 hex> --file plan.dcm --kind rt-plan
//
// Exit codes: 0 success, 1 any failure, 2 usage error.

import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';

const USAGE = `usage: node submit-and-read.mjs --node HOST:PORT --genesis GENESIS.bin --key USER.key
         --passphrase-file FILE --patient HEX32 --file PATH --kind KIND [--tls-ca CA.pem]
         [--purpose treatment]
  --node              the node's API address (plaintext only to 127.0.0.1 / localhost / [::1];
                      any other host needs --tls-ca)
  --genesis           the network's genesis.bin (gives the chain id)
  --key               your Ed25519 user key file (registered physician, physicist or integrator)
  --passphrase-file   the key file's passphrase (one trailing newline is ignored)
  --patient           the patient's 16-byte pseudonym, hex (registered already)
  --file              the record to submit
  --kind              record kind, e.g. rt-plan, rt-dose, rt-structure-set, document
  --tls-ca            CA certificate (PEM) of a remote node's API
  --purpose           purpose code recorded with the read (default: treatment)
  --audit-wait-seconds  how long to wait for the read to appear in the audit trail (default 20)`;

function usage(msg) {
  console.error(`error: ${msg}\n(node submit-and-read.mjs --help for usage)`);
  process.exit(2);
}

let opts;
try {
  ({ values: opts } = parseArgs({
    options: {
      node: { type: 'string' },
      genesis: { type: 'string' },
      key: { type: 'string' },
      'passphrase-file': { type: 'string' },
      patient: { type: 'string' },
      file: { type: 'string' },
      kind: { type: 'string' },
      'tls-ca': { type: 'string' },
      purpose: { type: 'string', default: 'treatment' },
      'audit-wait-seconds': { type: 'string', default: '20' },
      help: { type: 'boolean', short: 'h' },
    },
    strict: true,
    allowPositionals: false,
  }));
} catch (e) {
  usage(e.message);
}
if (opts.help) { console.log(USAGE); process.exit(0); }
for (const k of ['node', 'genesis', 'key', 'passphrase-file', 'patient', 'file', 'kind']) {
  if (!opts[k]) usage(`--${k} is required`);
}
if (!/^\d+$/.test(opts['audit-wait-seconds'])) usage('--audit-wait-seconds must be a whole number');

// Loaded after the argument check so that --help works without node_modules.
const {
  ErtrClient, openKeyFile, readPassphraseFile, chainIdFromGenesis, recordKindFromName, unhex, hex, isLoopback,
} = await import('./ertr-client.mjs');

function fail(msg) {
  console.error(`error: ${msg}`);
  process.exit(1);
}

let client;
try {
  let kind, patient;
  try {
    kind = recordKindFromName(opts.kind);
    patient = unhex(opts.patient, 16, '--patient');
  } catch (e) { usage(e.message); }
  if (!opts['tls-ca'] && !isLoopback(opts.node)) {
    usage(`--node ${opts.node} is not on this machine: plaintext records only go to 127.0.0.1; ` +
      'give --tls-ca with the CA certificate of the node\'s API');
  }
  let tlsCaPem;
  if (opts['tls-ca']) {
    try { tlsCaPem = readFileSync(opts['tls-ca']); } catch (e) { fail(`cannot read --tls-ca ${opts['tls-ca']}: ${e.message}`); }
  }
  const original = (() => {
    try { return readFileSync(opts.file); } catch (e) { return fail(`cannot read --file ${opts.file}: ${e.message}`); }
  })();
  const chainId = chainIdFromGenesis(opts.genesis);
  const key = openKeyFile(opts.key, readPassphraseFile(opts['passphrase-file']));
  client = new ErtrClient({ address: opts.node, chainId, key, tlsCaPem });

  const status = await client.getStatus();
  console.log(`node ${opts.node}: chain ${status.chain_id}, institution ${status.institution_id}, ` +
    `height ${status.height}, version ${status.version}`);
  console.log(`user key ${hex(key.publicKey)}`);

  const { upload, submit, txId } = await client.submitRecord(
    { patientPseudonym: patient, kind, source: opts.file });
  console.log(`uploaded ${upload.plaintext_size} bytes -> ${upload.ciphertext_size} bytes of ciphertext, ` +
    `key sealed to ${upload.envelope_institutions.join(', ')}`);
  console.log(`record id  ${hex(upload.record_id)}`);
  console.log(`tx id      ${hex(txId)}`);
  console.log(`height     ${submit.height} (index ${submit.index}, ${submit.status})`);

  const { info, data } = await client.getRecord(upload.record_id, opts.purpose);
  if (!data.equals(original)) {
    fail(`the record read back (${data.length} bytes) differs from ${opts.file} (${original.length} bytes)`);
  }
  console.log(`read back  ${data.length} bytes, identical to ${opts.file} ` +
    `(kind ${info.kind}, access basis ${info.access_basis || '-'})`);

  // The node records reads in batches, as a transaction it signs (RecordAccess): our read shows up
  // in the trail a block or two later. Wait for it (kind codes: docs/spec/ledger.md, AuditEntry).
  const deadline = Date.now() + Number(opts['audit-wait-seconds']) * 1000;
  const ourRead = (e) => e.kind === 'access_granted' && Buffer.from(e.actor).equals(key.publicKey);
  let entries = await client.getAuditTrail({ record_id: upload.record_id });
  while (!entries.some(ourRead) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 250));
    entries = await client.getAuditTrail({ record_id: upload.record_id });
  }
  console.log(`audit trail of record ${hex(upload.record_id)} (${entries.length} entries):`);
  for (const e of entries) {
    console.log(`  height ${e.height}  ${e.kind}  institution ${e.actor_institution || '-'}  ` +
      `detail ${e.detail || '-'}  flagged ${e.flagged ? 'YES' : 'no'}`);
  }
  if (!entries.some((e) => e.kind === 'record_submitted' && e.height === submit.height)) {
    fail(`the audit trail does not show the submission at height ${submit.height}`);
  }
  if (!entries.some(ourRead)) {
    fail(`the audit trail does not show our read after ${opts['audit-wait-seconds']} s`);
  }
} catch (e) {
  fail(e && e.message ? e.message : String(e));
} finally {
  if (client) client.close();
}
