// WriteBatch: the kernel's pending writes. It copies keys and values into
// chunks it owns and hands out views of them, so these tests hold views
// across later puts, moves and copies.
#include <doctest/doctest.h>

#include <map>
#include <memory>
#include <string>

#include "emledger/ledger/store.hpp"

using namespace emledger;
using namespace emledger::ledger;

namespace {

Bytes numbered(char tag, std::size_t i, std::size_t size) {
  Bytes b(size, static_cast<std::uint8_t>(i * 7 + 1));
  if (!b.empty()) b[0] = static_cast<std::uint8_t>(tag);
  for (std::size_t k = 1; k < b.size() && k < 9; ++k)
    b[k] = static_cast<std::uint8_t>(i >> (8 * (k - 1)));
  return b;
}

bool same(ByteView a, const Bytes& b) { return std::equal(a.begin(), a.end(), b.begin(), b.end()); }

// Every key of `model` is found with its value, and entries() holds exactly
// the model's keys, in first-put order (`order`).
void check_holds(const WriteBatch& batch, const std::map<Bytes, Bytes>& model,
                 const std::vector<Bytes>& order) {
  REQUIRE(batch.size() == model.size());
  for (const auto& [k, v] : model) {
    auto found = batch.find(k);
    REQUIRE(found.has_value());
    CHECK(same(*found, v));
  }
  REQUIRE(batch.entries().size() == order.size());
  for (std::size_t i = 0; i < order.size(); ++i) {
    CHECK(same(batch.entries()[i].key, order[i]));
    CHECK(same(batch.entries()[i].value, model.at(order[i])));
  }
}

}  // namespace

TEST_CASE("write batch: views of keys and values stay valid across puts, moves and copies") {
  // Sizes from empty to past the largest chunk, so puts fill chunks, open new
  // ones and get chunks of their own.
  const std::size_t sizes[] = {0, 1, 33, 100, 4000, 5000, (1 << 20) + 17, 70};
  WriteBatch batch;
  std::map<Bytes, Bytes> model;
  std::vector<Bytes> order;
  // Views taken as the puts go, with the bytes they showed then.
  std::vector<std::pair<ByteView, Bytes>> early;
  for (std::size_t i = 0; i < 400; ++i) {
    Bytes key = numbered('k', i, 9 + i % 40);  // distinct: the first 9 bytes hold i
    Bytes value = numbered('v', i, sizes[i % std::size(sizes)]);
    batch.put(key, value);
    model[key] = value;
    order.push_back(key);
    auto v = batch.find(key);
    REQUIRE(v.has_value());
    early.emplace_back(*v, value);
  }
  // The same keys again with new values: the last put wins, the order stays.
  for (std::size_t i = 0; i < 400; i += 3) {
    Bytes value = numbered('w', i, sizes[(i + 1) % std::size(sizes)]);
    batch.put(order[i], value);
    model[order[i]] = value;
  }
  check_holds(batch, model, order);
  // A view taken before a later put of another key still shows its bytes.
  for (std::size_t i = 1; i < early.size(); i += 3) CHECK(same(early[i].first, early[i].second));

  SUBCASE("a move keeps every view; the moved-from batch is empty and takes puts") {
    const ByteView before = batch.entries()[5].value;
    WriteBatch moved(std::move(batch));
    check_holds(moved, model, order);
    CHECK(moved.entries()[5].value.data() == before.data());
    CHECK(batch.size() == 0);  // NOLINT: the moved-from state is specified
    CHECK(!batch.find(order[0]).has_value());
    batch.put(order[0], Bytes{1, 2, 3});
    CHECK(same(*batch.find(order[0]), Bytes{1, 2, 3}));
    check_holds(moved, model, order);  // untouched by the puts into the other
    WriteBatch assigned;
    assigned.put(Bytes{'x'}, Bytes{'y'});
    assigned = std::move(moved);
    check_holds(assigned, model, order);
  }
  SUBCASE("a copy holds its own bytes: it outlives the original") {
    auto original = std::make_unique<WriteBatch>(batch);
    WriteBatch copy(*original);
    WriteBatch assigned;
    assigned.put(Bytes{'x'}, Bytes{'y'});
    assigned = *original;
    original.reset();
    batch = WriteBatch();  // the first batch's chunks go too
    check_holds(copy, model, order);
    check_holds(assigned, model, order);
    CHECK(!assigned.find(Bytes{'x'}).has_value());
  }
}

TEST_CASE("write batch: erases are kept apart from puts and copied with them") {
  WriteBatch batch;
  batch.put(Bytes{'a'}, Bytes{'1'});
  batch.erase(Bytes{'b'});
  CHECK(!batch.empty());
  CHECK(!batch.find(Bytes{'b'}).has_value());
  WriteBatch copy(batch);
  REQUIRE(copy.erased().size() == 1);
  CHECK(copy.erased()[0] == Bytes{'b'});
  WriteBatch erase_only;
  erase_only.erase(Bytes{'c'});
  CHECK(!erase_only.empty());
  CHECK(erase_only.size() == 0);
}

TEST_CASE("write batch: absorbing another batch is putting its entries, without copying them") {
  WriteBatch batch;
  std::map<Bytes, Bytes> model;
  std::vector<Bytes> order;
  for (std::size_t i = 0; i < 50; ++i) {
    Bytes key = numbered('k', i, 12);
    Bytes value = numbered('v', i, 20 + i);
    batch.put(key, value);
    model[key] = value;
    order.push_back(key);
  }
  auto other = std::make_unique<WriteBatch>();
  for (std::size_t i = 40; i < 300; ++i) {  // 40..49 again: their new values win
    Bytes key = numbered('k', i, 12);
    Bytes value = numbered('w', i, i % 7 == 0 ? 0 : 5000 + i);
    other->put(key, value);
    model[key] = value;
    if (i >= 50) order.push_back(key);
  }
  other->erase(Bytes{'z'});
  const ByteView moved_value = other->entries()[100].value;
  batch.absorb(std::move(*other));
  check_holds(batch, model, order);
  // The bytes stayed where they were, and stay valid once the other goes.
  CHECK(batch.find(numbered('k', 140, 12))->data() == moved_value.data());
  REQUIRE(batch.erased().size() == 1);
  CHECK(other->size() == 0);
  CHECK(other->empty());
  other->put(Bytes{'x'}, Bytes{'y'});  // the emptied batch takes puts, into chunks of its own
  other.reset();
  check_holds(batch, model, order);
  // Puts after the absorb still copy into this batch's own chunks.
  batch.put(Bytes{'n'}, Bytes(3000, 9));
  CHECK(same(*batch.find(Bytes{'n'}), Bytes(3000, 9)));
  check_holds(
      WriteBatch(batch),
      [&] {
        auto m = model;
        m[Bytes{'n'}] = Bytes(3000, 9);
        return m;
      }(),
      [&] {
        auto o = order;
        o.push_back(Bytes{'n'});
        return o;
      }());
}
