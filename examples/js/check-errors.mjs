#!/usr/bin/env node
// Negative checks against a live node (run by run-against-testnet.sh): a client that gets the
// authentication or the transaction signature wrong must get a clear refusal, never success.
//
//   node check-errors.mjs --node HOST:PORT --genesis GENESIS.bin --key USER.key \
//       --passphrase-file FILE --patient HEX32
//
// Each check prints "ok <what>: <the node's message>"; exit 1 if any check failed.

import { parseArgs } from 'node:util';
import { readFileSync, writeFileSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  ErtrClient, ErtrError, openKeyFile, readPassphraseFile, chainIdFromGenesis, unhex, encodeCanonical, types,
  RECORD_KINDS,
} from './ertr-client.mjs';

const { values: opts } = parseArgs({
  options: {
    node: { type: 'string' }, genesis: { type: 'string' }, key: { type: 'string' },
    'passphrase-file': { type: 'string' }, patient: { type: 'string' },
  },
  strict: true,
});
for (const k of ['node', 'genesis', 'key', 'passphrase-file', 'patient']) {
  if (!opts[k]) { console.error(`error: --${k} is required`); process.exit(2); }
}

const chainId = chainIdFromGenesis(opts.genesis);
const passphrase = readPassphraseFile(opts['passphrase-file']);
const key = openKeyFile(opts.key, passphrase);
const patient = unhex(opts.patient, 16, '--patient');

let failures = 0;
async function expectError(what, code, pattern, fn) {
  try {
    await fn();
    console.log(`FAIL ${what}: succeeded`);
    failures++;
  } catch (e) {
    const codeOk = code === null || (e instanceof ErtrError && e.code === code);
    if (codeOk && pattern.test(e.message)) {
      console.log(`ok  ${what}: ${e.message}`);
    } else {
      console.log(`FAIL ${what}: want ${code ?? 'an error'} matching ${pattern}, got: ${e.message}`);
      failures++;
    }
  }
}

// A client whose authentication headers are spoiled by `spoil(md, path, bytes)`.
class SpoiledClient extends ErtrClient {
  constructor(spoil) {
    super({ address: opts.node, chainId, key });
    this.spoil = spoil;
  }
  authMetadata(path, bytes, extra) {
    return this.spoil.call(this, (b = bytes, x = extra) => super.authMetadata(path, b, x), path, bytes);
  }
}
function flipHexByte(md, header) {
  const v = Buffer.from(md.get(header)[0], 'hex');
  v[0] ^= 0x01;
  md.set(header, v.toString('hex'));
  return md;
}

// Key files.
const tmp = mkdtempSync(join(tmpdir(), 'ertr-js-'));
try {
  await expectError('key file, wrong passphrase', null, /wrong passphrase/, () => openKeyFile(opts.key, `${passphrase}x`));
  const modified = readFileSync(opts.key);
  modified[150] ^= 0x01;
  writeFileSync(join(tmp, 'modified.key'), modified);
  await expectError('key file, one byte changed', null, /wrong passphrase, or the file was modified/,
    () => openKeyFile(join(tmp, 'modified.key'), passphrase));
} finally {
  rmSync(tmp, { recursive: true, force: true });
}

// API request authentication.
await expectError('tampered request signature', 'UNAUTHENTICATED', /signature does not verify/,
  () => new SpoiledClient((sign) => flipHexByte(sign(), 'ertr-signature')).getStatus());
await expectError('request changed after signing', 'UNAUTHENTICATED', /signature does not verify/,
  () => new SpoiledClient((sign) => sign(encodeCanonical(types.GetAuditTrailRequest, { patient_pseudonym: Buffer.alloc(16, 7) })))
    .getAuditTrail({ patient_pseudonym: patient }));
await expectError('signed for another chain', 'UNAUTHENTICATED', /signature does not verify/, () => {
  const c = new ErtrClient({ address: opts.node, chainId: `${chainId}-other`, key });
  return c.getStatus();
});
await expectError('timestamp 10 minutes old', 'UNAUTHENTICATED', /away from the node's clock/,
  () => new SpoiledClient((sign) => sign(undefined, { timestampMs: Date.now() - 600_000 })).getStatus());
{
  let saved = null;
  const replayer = new SpoiledClient((sign) => { saved = saved ?? sign(); return saved; });
  await replayer.getStatus();
  await expectError('replayed nonce', 'UNAUTHENTICATED', /nonce was used already/, () => replayer.getStatus());
}
await expectError('missing signature header', 'UNAUTHENTICATED', /ertr-signature/,
  () => new SpoiledClient((sign) => { const md = sign(); md.remove('ertr-signature'); return md; }).getStatus());

// Transaction signatures: upload a small record, then submit its body with a spoiled signature.
{
  const client = new ErtrClient({ address: opts.node, chainId, key });
  const kind = RECORD_KINDS.document;
  const upload = await client.uploadRecord({ patientPseudonym: patient, kind, source: Buffer.from('tx signature check\n') });
  client.checkUploadBody(upload, { patientPseudonym: patient, kind });
  const body = upload.transaction_body;
  const signature = client.signTransactionBody(body);
  signature[5] ^= 0x01;
  await expectError('tampered transaction signature', null, /signature/i,
    () => client.submitTransaction({ body, signature }, true));
  const other = Buffer.from(body);
  other[other.length - 1] ^= 0x01;
  await expectError('transaction body changed after signing', null, /signature|decode|parse|invalid/i,
    () => client.submitTransaction({ body: other, signature: client.signTransactionBody(body) }, true));
  client.close();
}

if (failures) {
  console.error(`${failures} error check(s) failed`);
  process.exit(1);
}
console.log('all error checks passed');
process.exit(0);
