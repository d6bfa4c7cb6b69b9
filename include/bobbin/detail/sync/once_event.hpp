#pragma once
// detail::once_event<Args...>: an event that fires once, like a Node.js 'exit' event that
// also reaches listeners added after it fired. bobbin::worker's online, error and exit
// events are three of them (worker.hpp).
//
// Contract:
// - listen(fn) and fired() may be called from any thread at any time, also during fire.
//   fire(args...) is called at most once (by the thread whose life the event reports).
// - Every listener is called exactly once, with the arguments of fire: one added before
//   fire is called by fire, on the firing thread; one added after is called by listen, at
//   once, on the caller's thread, before listen returns. A listener that throws calls
//   std::terminate (fire and the call are noexcept), as an exception thrown by a Node event
//   listener ends the process.
// - No listener runs under the lock, so a listener may listen to this event (it is then
//   called at once) or to another one.
//
// Synchronisation: one mutex guards the record (fired? with what?) and the listener list.
// fire marks the record and takes the list under the lock, then calls the list unlocked;
// listen checks the mark under the lock, so each listener lands on exactly one side of the
// fire. The mutex also orders fire's arguments before a later listen's (or fired()'s)
// copy of them.

#include <functional>
#include <mutex>
#include <optional>
#include <tuple>
#include <utility>
#include <vector>

namespace bobbin::detail {

template <class... Args>
class once_event {
 public:
  using listener = std::function<void(const Args&...)>;

  void listen(listener fn) {
    std::unique_lock lock(mutex_);
    if (!fired_) {
      listeners_.push_back(std::move(fn));
      return;
    }
    const std::tuple<Args...> args = *fired_;  // a copy: the caller runs it unlocked
    lock.unlock();
    call(fn, args);
  }

  void fire(const Args&... args) noexcept {
    std::vector<listener> now;
    std::tuple<Args...> copy(args...);
    {
      std::lock_guard lock(mutex_);
      fired_.emplace(args...);
      now.swap(listeners_);
    }
    for (auto& fn : now) call(fn, copy);
  }

  // The arguments it fired with, if it has.
  std::optional<std::tuple<Args...>> fired() const {
    std::lock_guard lock(mutex_);
    return fired_;
  }

 private:
  static void call(listener& fn, const std::tuple<Args...>& args) noexcept { std::apply(fn, args); }

  mutable std::mutex mutex_;
  std::optional<std::tuple<Args...>> fired_;
  std::vector<listener> listeners_;
};

}  // namespace bobbin::detail
