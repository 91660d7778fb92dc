#include "process_claim.h"

#include <atomic>

namespace procmeter {
namespace {

// Lock-free on every platform Node supports; constant-initialized, so there
// is no static constructor to run at dlopen.
std::atomic<const void*> claim_owner{nullptr};

}  // namespace

bool ClaimProcessMetrics(const void* owner) {
  const void* expected = nullptr;
  return claim_owner.compare_exchange_strong(expected, owner) || expected == owner;
}

void ReleaseProcessMetrics(const void* owner) {
  const void* expected = owner;
  claim_owner.compare_exchange_strong(expected, nullptr);
}

}  // namespace procmeter
