#pragma once
// The one owner of each NSS handle the clients part holds (STYLE.md: one
// move-only owner per C handle, no other code calls a release function):
// an initialised NSS context on one database, a slot, a symmetric key and
// an item NSS allocated.

#include <memory>

#include <nss.h>
#include <pk11pub.h>
#include <secitem.h>

namespace mailseal::clients::internal::nss {

struct ContextDeleter {
  void operator()(NSSInitContext* context) const noexcept { NSS_ShutdownContext(context); }
};
struct SlotDeleter {
  void operator()(PK11SlotInfo* slot) const noexcept { PK11_FreeSlot(slot); }
};
struct SymKeyDeleter {
  void operator()(PK11SymKey* key) const noexcept { PK11_FreeSymKey(key); }
};

using Context = std::unique_ptr<NSSInitContext, ContextDeleter>;
using Slot = std::unique_ptr<PK11SlotInfo, SlotDeleter>;
using SymKey = std::unique_ptr<PK11SymKey, SymKeyDeleter>;

// The data of an item NSS filled in (PK11_ReadRawAttribute), wiped and freed
// with the owner; the item itself lives on the stack.
class ItemData {
 public:
  ItemData() = default;
  ~ItemData() { SECITEM_ZfreeItem(&item_, PR_FALSE); }
  ItemData(const ItemData&) = delete;
  ItemData& operator=(const ItemData&) = delete;
  SECItem* get() noexcept { return &item_; }
  const SECItem& item() const noexcept { return item_; }

 private:
  SECItem item_{siBuffer, nullptr, 0};
};

}  // namespace mailseal::clients::internal::nss
