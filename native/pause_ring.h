// A fixed-size ring of recent GC pauses, filled by GC callbacks and drained
// by JavaScript. Both run on the isolate's own thread, so there is nothing to
// lock; pushing never allocates. When full, a new pause is refused (the
// caller counts it as dropped) rather than overwriting one not yet drained.
#ifndef PROCMETER_PAUSE_RING_H_
#define PROCMETER_PAUSE_RING_H_

#include <cstddef>
#include <cstdint>

namespace procmeter {

struct GcPause {
  uint64_t duration_ns;
  uint32_t kind;  // a GcKind
};

template <size_t kCapacity>
class PauseRing {
 public:
  static constexpr size_t capacity() { return kCapacity; }

  // Returns false, storing nothing, when the ring is full.
  bool Push(GcPause pause) {
    if (written_ - read_ == kCapacity) return false;
    entries_[written_ % kCapacity] = pause;
    ++written_;
    return true;
  }

  // Moves up to `max_pauses` oldest pauses into `out` as (kind, seconds)
  // pairs and returns how many it moved. Each pause is handed out once.
  size_t Drain(double* out, size_t max_pauses) {
    size_t moved = 0;
    while (read_ != written_ && moved < max_pauses) {
      const GcPause& pause = entries_[read_ % kCapacity];
      out[2 * moved] = static_cast<double>(pause.kind);
      out[2 * moved + 1] = static_cast<double>(pause.duration_ns) / 1e9;
      ++read_;
      ++moved;
    }
    return moved;
  }

  size_t size() const { return static_cast<size_t>(written_ - read_); }

 private:
  GcPause entries_[kCapacity] = {};
  uint64_t written_ = 0;  // total pushed; never wraps in practice (2^64)
  uint64_t read_ = 0;     // total drained
};

}  // namespace procmeter

#endif  // PROCMETER_PAUSE_RING_H_
