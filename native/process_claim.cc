#include "process_claim.h"

#include <atomic>

namespace procmeter {
namespace {

// The holder among this copy's threads. Lock-free on every platform Node
// supports; constant-initialized, so there is no static constructor to run
// at dlopen.
std::atomic<const void*> copy_claim_owner{nullptr};

bool ClaimThisCopy(const void* owner) {
  const void* expected = nullptr;
  return copy_claim_owner.compare_exchange_strong(expected, owner) || expected == owner;
}

void ReleaseThisCopy(const void* owner) {
  const void* expected = owner;
  copy_claim_owner.compare_exchange_strong(expected, nullptr);
}

// The shared cell is JavaScript's memory (Atomics on a BigInt64Array), so it
// is no std::atomic: the GCC/Clang builtins make the same lock-free,
// sequentially consistent accesses that Atomics does.
bool CompareExchange(int64_t* cell, int64_t* expected, int64_t desired) {
  return __atomic_compare_exchange_n(cell, expected, desired, false, __ATOMIC_SEQ_CST, __ATOMIC_SEQ_CST);
}

}  // namespace

void ProcessClaim::ShareCell(int64_t* cell, int64_t token) {
  if (shared_cell_ != nullptr || cell == nullptr || token == 0) return;
  shared_cell_ = cell;
  token_ = token;
}

bool ProcessClaim::Claim() {
  // A thread holds the shared cell only while it holds its copy's claim:
  // taken after it, given back before it.
  if (!ClaimThisCopy(owner_)) return false;
  // Holding the copy's claim without the shared cell (another copy reports)
  // is kept: it keeps this copy's other threads, whose cell may be another
  // one, from reporting as well.
  if (shared_cell_ == nullptr) return true;
  int64_t holder = 0;
  return CompareExchange(shared_cell_, &holder, token_) || holder == token_;
}

void ProcessClaim::Release() {
  ReleaseSharedCell();
  ReleaseThisCopy(owner_);
}

void ProcessClaim::ReleaseSharedCell() {
  if (shared_cell_ == nullptr) return;
  int64_t holder = token_;
  CompareExchange(shared_cell_, &holder, 0);
}

}  // namespace procmeter
