#pragma once
// detail::executor: the one thing channels need from whatever runs their message handlers.
//
// An executor is anything with post(task): it runs each posted task exactly once, later,
// on some thread of its own. post may throw (a pool that was shut down throws
// bobbin::pool_closed), and then the task never runs. bobbin::pool<> is one; so is a
// thread with a queue. Channels keep only a reference: the caller keeps the executor alive
// for as long as it may be handed tasks.

#include <functional>
#include <utility>

namespace bobbin::detail {

// Checked with std::function so that an executor whose post takes exactly that type also
// qualifies; a post that is a template (the pool's) accepts it as well.
template <class E>
concept executor = requires(E& e, std::function<void()> task) { e.post(std::move(task)); };

}  // namespace bobbin::detail
