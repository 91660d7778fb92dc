// Which environment (thread) reports the process-wide metrics. The one
// piece of state procmeter shares across worker threads, on purpose: every
// thread that registers metrics asks, and only the first gets a yes, so
// process-wide series are reported once per process.
#ifndef PROCMETER_PROCESS_CLAIM_H_
#define PROCMETER_PROCESS_CLAIM_H_

namespace procmeter {

// True if `owner` now holds the claim (or already did).
bool ClaimProcessMetrics(const void* owner);

// Gives the claim up if `owner` holds it. Also called when an environment
// is torn down, so a terminated worker never keeps it.
void ReleaseProcessMetrics(const void* owner);

}  // namespace procmeter

#endif  // PROCMETER_PROCESS_CLAIM_H_
