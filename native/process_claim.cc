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

bool ProcessClaim::ShareCell(int64_t* cell) {
  if (shared_cell_ != nullptr) return false;
  shared_cell_ = cell;
  return true;
}

bool ProcessClaim::Claim(int64_t token) {
  // A thread holds the shared cell only while it holds its copy's claim:
  // taken before it, given back after it. Holding the copy's claim without
  // the cell (another copy reports) is kept: it keeps this copy's other
  // threads, whose cell may be another one, from reporting as well.
  if (!ClaimThisCopy(owner_)) return false;
  if (copy_claim_token_ == 0) copy_claim_token_ = token;
  if (shared_cell_ == nullptr) return true;  // JavaScript always shares one first
  int64_t holder = 0;
  if (!CompareExchange(shared_cell_, &holder, token) && holder != token) return false;
  held_token_ = token;
  return true;
}

void ProcessClaim::Release(int64_t token) {
  if (shared_cell_ != nullptr && token != 0) {
    int64_t holder = token;
    CompareExchange(shared_cell_, &holder, 0);
  }
  if (held_token_ == token) held_token_ = 0;
  if (copy_claim_token_ == token) copy_claim_token_ = 0;
  if (held_token_ == 0 && copy_claim_token_ == 0) ReleaseThisCopy(owner_);
}

void ProcessClaim::ReleaseAll() {
  if (held_token_ != 0) Release(held_token_);
  held_token_ = copy_claim_token_ = 0;
  ReleaseThisCopy(owner_);
}

}  // namespace procmeter
