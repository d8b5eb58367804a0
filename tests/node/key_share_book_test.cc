#include <catch2/catch.hpp>

#include "node/key_share_book.h"

namespace ertr::node {
namespace {

using Clock = KeyShareBook::Clock;

ledger::RecordId Record(std::uint8_t b) {
  ledger::RecordId r;
  r.data()[0] = b;
  return r;
}

TEST_CASE("an admitted key share is in flight until the chain passes its deadline",
          "[unit][node]") {
  KeyShareBook book;
  const auto now = Clock::now();
  book.Admitted(Record(1), "hosp-b", Height(110));
  CHECK(book.InFlight(Record(1), "hosp-b", Height(100)));
  CHECK(book.InFlight(Record(1), "hosp-b", Height(109)));
  CHECK_FALSE(book.InFlight(Record(1), "hosp-c", Height(100)));  // another institution
  CHECK_FALSE(book.InFlight(Record(2), "hosp-b", Height(100)));  // another record
  // Not due while it can still commit (in block 110 at the latest), however long it takes.
  CHECK(book.TakeDue(Height(109), now + std::chrono::hours(1)).empty());
  // Once block 110 is in, it can no longer commit: due once, then forgotten.
  CHECK_FALSE(book.InFlight(Record(1), "hosp-b", Height(110)));
  CHECK(book.TakeDue(Height(110), now) == std::set<ledger::RecordId>{Record(1)});
  CHECK(book.size() == 0);
  CHECK(book.TakeDue(Height(200), now).empty());
}

TEST_CASE("a committed key share is owed no more, and a refused one is due after its delay",
          "[unit][node]") {
  KeyShareBook book;
  const auto now = Clock::now();
  book.Admitted(Record(1), "hosp-b", Height(110));
  book.Committed(Record(1), "hosp-b");
  CHECK_FALSE(book.InFlight(Record(1), "hosp-b", Height(100)));
  CHECK(book.TakeDue(Height(500), now).empty());

  book.Refused(Record(2), "hosp-b", now + std::chrono::seconds(2));
  book.Refused(Record(3), "hosp-c", now + std::chrono::seconds(5));
  CHECK_FALSE(book.InFlight(Record(2), "hosp-b", Height(1)));  // refused: nothing can commit
  CHECK(book.TakeDue(Height(1), now + std::chrono::seconds(1)).empty());
  CHECK(book.TakeDue(Height(1), now + std::chrono::seconds(2)) ==
        std::set<ledger::RecordId>{Record(2)});
  CHECK(book.size() == 1);
  // A later admission of the same pair replaces the refusal.
  book.Admitted(Record(3), "hosp-c", Height(20));
  CHECK(book.TakeDue(Height(1), now + std::chrono::seconds(9)).empty());
  CHECK(book.TakeDue(Height(20), now) == std::set<ledger::RecordId>{Record(3)});
}

TEST_CASE("a record is due once however many of its shares are", "[unit][node]") {
  KeyShareBook book;
  const auto now = Clock::now();
  book.Refused(Record(4), "hosp-b", now);
  book.Refused(Record(4), "hosp-c", now);
  book.Admitted(Record(4), "hosp-d", Height(50));
  CHECK(book.size() == 3);
  CHECK(book.TakeDue(Height(10), now) == std::set<ledger::RecordId>{Record(4)});
  CHECK(book.InFlight(Record(4), "hosp-d", Height(10)));  // the admitted share stays in flight
  CHECK(book.size() == 1);
}

}  // namespace
}  // namespace ertr::node
