#pragma once
// What SQLite refused (a constraint, a damaged file, I/O), as every store
// function throws it: this store's own failure, which a caller merging
// others' data must not charge to them (devices' apply_plan).

#include "mailseal/common/error.h"

namespace mailseal::store {

class StoreError : public Error {
 public:
  using Error::Error;
};

}  // namespace mailseal::store
