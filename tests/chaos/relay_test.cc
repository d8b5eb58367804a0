// A transaction whose origin cannot reach the primary gets there through a relay (ADR 0018):
// real ertrd processes, every link through the chaos harness's proxy, one link cut.

#include <catch2/catch.hpp>

#include "tests/chaos/fault_proxy.h"
#include "tests/support/local_network.h"
#include "tests/support/wait.h"

namespace ertr::testing {
namespace {

TEST_CASE("a transaction reaches a primary its origin cannot reach through a relay",
          "[integration][slow]") {
  LocalNetworkOptions o;
  o.ertrd = ERTRD;
  o.validators = 4;
  // Long enough that no view change can be what brings the transaction to a primary within the
  // wait below: only a relay can.
  o.view_timeout_ms = 60000;
  LocalNetwork net(o);
  REQUIRE(net.Create());
  std::vector<int> targets;
  for (int j = 0; j < 4; ++j) targets.push_back(net.p2p_port(j));
  chaos::FaultProxy proxy(4, net.p2p_port(0) + 40, targets, 1);
  for (int i = 0; i < 4; ++i) {
    for (int j = 0; j < 4; ++j) {
      if (i != j) REQUIRE(net.RoutePeer(i, j, proxy.listen_port(i, j)));
    }
  }
  REQUIRE(proxy.Start());
  net.StartAll();
  REQUIRE(net.WaitConnected(60));

  // Node 0 is the primary of view 0; node 1, the origin, loses its link to it.
  proxy.SetBetween(1, {0}, chaos::LinkState{false, 0, 0});
  REQUIRE(WaitUntil([&] { return net.NodeMetric(1, "ertr_peers_connected") == 2; }, 30));
  auto origin = net.Client(1, net.AdminKey(1));
  REQUIRE(origin);
  auto sent =
      origin->Submit(ledger::RegisterUser{"hosp-b", crypto::SigningKey::Generate().public_key(),
                                          ledger::Role::kIntegrator, "relayed"},
                     /*wait=*/false);
  REQUIRE(sent.has_value());

  auto witness = net.Client(2, net.AdminKey(2));
  REQUIRE(witness);
  CHECK(WaitUntil(
      [&] {
        auto info = witness->GetTransaction(sent->tx_id);
        return info.has_value() && info->status() == v1::TRANSACTION_STATUS_ACCEPTED;
      },
      30));
  CHECK(net.SumMetric("ertr_transactions_relayed_total") >= 1);
  CHECK(net.NodeMetric(2, "ertr_view") == 0);  // no view change did it instead
  proxy.Stop();
  net.Stop();
}

}  // namespace
}  // namespace ertr::testing
