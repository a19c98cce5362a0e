#pragma once
// Points in time, one type for the whole library: whole seconds on the
// system clock (UTC). Certificates carry dates up to 9999-12-31, beyond what
// a nanosecond system_clock::time_point can hold. Durations stay
// std::chrono::seconds (and the other std::chrono durations).
//
// The library never reads the clock: what decides by the time (is a
// certificate valid, has an invitation expired, is a request too old) takes
// `TimePoint now` from its caller, and only the edges read it with now():
// the CLI, the key service's HTTP server, the gateway's session. Tests set
// the clock by passing another `now`.

#include <chrono>
#include <cstdint>

namespace mailseal {

using TimePoint = std::chrono::sys_seconds;

// The system clock, in whole seconds. For the edges only (see above).
TimePoint now();

// Unix seconds, as SQLite and the JSON documents keep a point in time; used
// only where a TimePoint is written to or read from them.
constexpr std::int64_t to_unix_seconds(TimePoint time) noexcept {
  return time.time_since_epoch().count();
}
constexpr TimePoint from_unix_seconds(std::int64_t seconds) noexcept {
  return TimePoint(std::chrono::seconds(seconds));
}

}  // namespace mailseal
