#pragma once
// detail::post_api<D, T>: post_message, written once (a CRTP mixin) for the two handles
// that post to a mailbox: message_port and worker (which posts through its port).
//
// Contract:
// - D derives publicly from post_api<D, T>, declares `friend struct detail::handle_access;`
//   and has the primitive post_box() (handle_access.hpp): the mailbox<T> of the other end,
//   or D's moved-from std::logic_error.
// - post_message may be called from any thread at the same time. It never blocks (the
//   mailbox's queue is unbounded) and holds no lock; the mailbox publishes the message and
//   schedules the receiving end's handler (mailbox.hpp says how, and with which orders).
// - Exceptions: if copying or moving T in throws, nothing is posted and the exception
//   propagates. If the receiving end's executor refuses the drain (its post throws), the
//   exception propagates but the message stays queued and goes with the next post.

#include <concepts>
#include <utility>

#include "handle_access.hpp"

namespace bobbin::detail {

template <class D, class T>
class post_api {
 public:
  // Sends v to the other end. false once closed; v is then left as it was (moved from, or
  // copied, only when the answer is true).
  bool post_message(const T& v)
    requires std::copy_constructible<T>
  {
    return box().post(v);
  }
  bool post_message(T&& v) { return box().post(std::move(v)); }

 protected:
  post_api() = default;

 private:
  decltype(auto) box() const { return handle_access::post_box(static_cast<const D&>(*this)); }
};

}  // namespace bobbin::detail
