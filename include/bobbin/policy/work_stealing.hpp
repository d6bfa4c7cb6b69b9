#pragma once
// work_stealing: a Chase-Lev deque per worker. A worker pushes and pops its own tasks at
// one end (LIFO: depth-first fork-join, hot caches); an idle worker steals from the other
// end of a random victim (FIFO: the oldest, usually largest, work). Tasks from outside the
// pool enter a lock-free injection queue (detail/task/task_injector.hpp); a worker takes a run
// of them with one claim and moves all but the first into its deque, where the others
// can steal them. The default policy.
//
// Contract (policy/concept.hpp says who calls what): push() from any thread (into the
// caller's own deque from a worker, into the injection queue from outside); pop(),
// pop_local_in_place() and going_idle() by worker w only, on its own deque and as a thief
// on the others' (detail/task/ws_deque.hpp); fence-free own pops while no thief is
// announced (see "Fence-free pops" below).

#include <algorithm>
#include <atomic>
#include <cstddef>
#include <cstdint>
#include <memory>

#include "../detail/config.hpp"
#include "../detail/sync/asymmetric_fence.hpp"
#include "../detail/task/task_injector.hpp"
#include "../detail/task/ws_deque.hpp"
#include "concept.hpp"

namespace bobbin {

struct work_stealing {
  class queues {
   public:
    static constexpr bool targeted = false;  // any worker may run any task

    // With a bounded queue, tasks are taken one at a time, so that queue_capacity counts
    // every outside task until it starts (a batch in a deque would no longer count).
    queues(std::size_t workers, const pool_options& o)
        : own_(std::make_unique<own[]>(workers)),
          workers_(workers),
          batch_limit_(o.queue_capacity != 0 ? 1 : 64),
          light_pops_(detail::asymmetric_fence::asymmetric()) {
      for (std::size_t i = 0; i < workers; ++i) own_[i].rng = static_cast<std::uint32_t>(i) * 2654435761u + 1u;
    }
    ~queues() {
      detail::task t;
      for (std::size_t i = 0; i < workers_; ++i) {
        while (own_[i].deque.pop(t.bytes())) t.reset();  // never run: cancelled
      }
    }

    std::size_t push(detail::task& t, const task_options&, std::size_t self) {
      if (self != detail::outside) {
        own_[self].deque.push(t.bytes());  // may throw while growing: t untouched
        t.forget();
      } else {
        injection_.push(t);  // may throw std::bad_alloc: t untouched
      }
      return detail::any_worker;
    }

    // Worker `self` pushes onto its own deque a task whose callable fills only its first
    // storage word (detail::task::words_hold): a coroutine's resumption.
    BOBBIN_ALWAYS_INLINE void push_own_short(std::size_t self, detail::task& t) {
      own_[self].deque.template push_prefix<detail::task::storage_word + 1>(t.bytes());
      t.forget();
    }
    // The own-deque pop, the fork-join path, is inlined into the worker loop; the rest
    // (outside tasks, stealing) is not, so that the common case pays for no more than it uses.
    BOBBIN_ALWAYS_INLINE bool pop(std::size_t w, detail::task& out, detail::pop_info& info, std::uint32_t min_depth) {
      return pop_local(w, out, min_depth) || pop_elsewhere(w, out, info, min_depth);
    }
    // The newest task of w's own deque if it is at least min_depth deep.
    BOBBIN_ALWAYS_INLINE bool pop_local(std::size_t w, detail::task& out, std::uint32_t min_depth) {
      const detail::task::word* s = pop_local_in_place(w, min_depth);
      if (s == nullptr) return false;
      out = detail::task::adopt_words(s);
      return true;
    }
    // The same task left where it lies (the pool's fork-join fast path in a wait): its
    // slot's words, w's until w's next push (see ws_deque::pop_in_place), or nullptr.
    BOBBIN_ALWAYS_INLINE const detail::task::word* pop_local_in_place(std::size_t w, std::uint32_t min_depth) {
      own& me = own_[w];
      const detail::task::word* s = pop_own(me);
      if (s == nullptr) return nullptr;
      if (me.thief && ++me.own_pops >= own_pops_to_withdraw) [[unlikely]]
        leave_thieving(me);
      if (detail::task::depth_of(s) >= min_depth) [[likely]]
        return s;
      // Too shallow for this waiter: back where it was (no growth: it just left).
      detail::task t = detail::task::adopt_words(s);
      me.deque.push(t.bytes());
      t.forget();
      return nullptr;
    }

   private:
    BOBBIN_NOINLINE bool pop_elsewhere(std::size_t w, detail::task& out, detail::pop_info& info,
                                       std::uint32_t min_depth) {
      own& me = own_[w];
      // Tasks from outside have depth 0: only for an unrestricted taker.
      if (min_depth == 0 && take_injected(me, out, info)) {
        return true;
      }
      const std::size_t n = workers_;
      if (n > 1) {
        const auto deep_enough = [min_depth](const detail::task::raw& r) { return r.depth >= min_depth; };
        const std::size_t start = me.next_random() % n;
        bool saw_work = false;
        for (std::size_t k = 0; k < n; ++k) {
          own& victim = own_[(start + k) % n];
          if (&victim == &me || victim.deque.size_approx() == 0) continue;
          saw_work = true;
          if (light_pops_ && !me.thief) enter_thieving(me);
          auto r = victim.deque.steal(out.bytes(), deep_enough);
          if (r == detail::steal_status::lost_race) r = victim.deque.steal(out.bytes(), deep_enough);
          if (r == detail::steal_status::success) {
            me.own_pops = 0;
            info.stolen = true;
            return true;
          }
        }
        if (me.thief && !saw_work) leave_thieving(me);  // nothing to steal: let owners pop fence-free
      }
      out.forget();  // the bytes may hold a torn copy: not ours
      return false;
    }

   public:
    bool has_work_for(std::size_t w, std::uint32_t min_depth) const noexcept {
      if (min_depth == 0) {
        if (injection_.has_work()) return true;
        for (std::size_t i = 0; i < workers_; ++i) {
          if (!own_[i].deque.empty_approx()) return true;
        }
        return false;
      }
      detail::task::raw r;
      if (own_[w].deque.peek_bottom(r) && r.depth >= min_depth) return true;
      for (std::size_t i = 0; i < workers_; ++i) {
        if (i != w && own_[i].deque.peek_top(r) && r.depth >= min_depth) return true;
      }
      return false;
    }

    void finished(std::size_t) noexcept {}

    // The pool calls this before w parks.
    void going_idle(std::size_t w) noexcept {
      if (own_[w].thief) leave_thieving(own_[w]);
    }

   private:
    struct own {
      std::uint32_t next_random() noexcept {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        return rng;
      }
      detail::ws_deque<detail::task::raw> deque;
      std::uint32_t rng = 1;  // seeded per worker by the constructor
      bool thief = false;       // announced in thieves_; this worker's thread only
      std::uint32_t own_pops = 0;  // own pops since the last steal, while a thief
    };

    // Fence-free pops. An owner pops without a store->load fence while no worker is
    // announced as a thief in thieves_; a worker announces itself, then runs the heavy
    // side of the asymmetric fence, before its first steal (ws_deque::pop(out, no_thief)
    // says why that is enough), and withdraws once it has work of its own again or found
    // none. In fork-join, steals are rare (some 15 in a fib(30) on 2 threads) and pops
    // are every other instruction: each pop saves a locked instruction, each episode of
    // stealing costs one membarrier (some 10 us here). A thief withdraws when it is about
    // to sleep, when every other deque looked empty, or when it has popped
    // own_pops_to_withdraw tasks of its own since its last steal (it runs a subtree of its
    // own: fork-join); not at its first own pop, or a worker that alternates between a
    // batch of outside tasks and a steal would pay a membarrier per batch.
    // acquire on the owner's load: it pairs with a withdrawal's release, so the thief's
    // last CAS on top is seen.
    static constexpr std::uint32_t own_pops_to_withdraw = 256;
    BOBBIN_ALWAYS_INLINE const detail::task::word* pop_own(own& me) noexcept {
      if (!light_pops_) return me.deque.pop_in_place();
      return me.deque.pop_in_place([this] { return thieves_.load(std::memory_order_acquire) == 0; });
    }
    void enter_thieving(own& me) noexcept {
      thieves_.fetch_add(1, std::memory_order_seq_cst);
      detail::asymmetric_fence::heavy();
      me.thief = true;
      me.own_pops = 0;
    }
    void leave_thieving(own& me) noexcept {
      thieves_.fetch_sub(1, std::memory_order_release);
      me.thief = false;
    }

    // One task to run, the rest of a run into w's deque. Never more than fits in the deque
    // as it is: the moves must not allocate, or a std::bad_alloc would strand tasks taken
    // out of the queue.
    bool take_injected(own& me, detail::task& first, detail::pop_info& info) noexcept {
      const std::size_t cap = me.deque.capacity();
      const std::size_t room = cap - std::min(cap, me.deque.size_approx() + 1);
      // A few (coarse) tasks go one at a time: a run of the largest would leave the other
      // workers idle at the end. A backlog goes in shares (of what one look saw, up to 64)
      // per worker, so that workers do not fight over the queue's head task by task.
      const std::size_t workers = workers_;
      const auto share = [workers](std::size_t seen) { return seen <= 4 * workers ? 1 : seen / workers; };
      const std::size_t taken = injection_.take(first, std::min<std::size_t>(batch_limit_, room + 1), share,
                                                [&me](detail::task::raw& r) noexcept { me.deque.push(r); });
      info.outside_taken = taken;
      return taken != 0;
    }

    std::unique_ptr<own[]> own_;  // one block: a worker's part is one step from here
    const std::size_t workers_;
    const std::size_t batch_limit_;
    const bool light_pops_;  // the asymmetric fence is available (not under TSan)
    alignas(detail::cache_line) std::atomic<std::size_t> thieves_{0};
    detail::task_injector injection_;
  };
};

// The contract (policy/concept.hpp), and which of its optional parts work_stealing has.
static_assert(policy<work_stealing>);
static_assert(policy_parts::shares_tasks<work_stealing::queues>);
static_assert(!policy_parts::counts_running<work_stealing::queues>);
static_assert(policy_parts::goes_idle<work_stealing::queues>);
static_assert(policy_parts::pops_in_place<work_stealing::queues>);

}  // namespace bobbin
