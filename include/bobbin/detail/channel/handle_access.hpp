#pragma once
// detail::handle_access and detail::checked: what the public channel handles (channel,
// message_port, broadcast_receiver, broadcast_channel) and worker share below their API.
//
// Contract:
// - A handle keeps its state in one std::shared_ptr; a moved-from handle holds null.
//   checked(p, what) is *p, or throws std::logic_error(what) when p is null. `what` names
//   the class and says "moved-from" (tests/support/moved_from.hpp looks for both). The
//   throw is out of line: a caller pays one well-predicted branch for the check.
// - handle_access is the one friend a handle declares. Through it the API mixins
//   (receiver_api.hpp, post_api.hpp), and a worker reaching into its port, call the
//   handle's private primitives; each primitive throws the handle's moved-from error:
//     receive_core()  the channel_core<T> that receive() and friends take from;
//     inbox()         the mailbox<T> whose handler on_message sets;
//     post_box()      the mailbox<T> that post_message pushes to.
//   Nothing here synchronises: channel_core and mailbox do, and say how.

#include <memory>
#include <stdexcept>

#include "../config.hpp"

namespace bobbin::detail {

[[noreturn]] BOBBIN_NOINLINE inline void throw_moved_from(const char* what) { throw std::logic_error(what); }

template <class P>
P& checked(const std::shared_ptr<P>& p, const char* what) {
  if (!p) [[unlikely]]
    throw_moved_from(what);
  return *p;
}

struct handle_access {
  template <class H>
  static decltype(auto) receive_core(const H& h) {
    return h.receive_core();
  }
  template <class H>
  static decltype(auto) inbox(const H& h) {
    return h.inbox();
  }
  template <class H>
  static decltype(auto) post_box(const H& h) {
    return h.post_box();
  }
};

}  // namespace bobbin::detail
