#include "ledger/transaction.h"

namespace ertr::ledger {

crypto::Digest TransactionId(ByteSpan body) { return crypto::DomainHash("ertr/txid/v1", body); }

bool HasValidSignature(const SignedTransaction& tx, const crypto::Verifier& verifier) {
  return verifier.Verify(tx.header.signer, crypto::SigningDomain::kTransaction, tx.header.chain_id,
                         tx.body, tx.signature);
}

}  // namespace ertr::ledger
