#pragma once
// Scheduling policies: tags that select how bobbin::pool<Policy> places and finds tasks.
// All of them plug into the one worker loop of pool.hpp.

#include <type_traits>

namespace bobbin {

// Per-worker Chase-Lev deques: a worker pushes and pops its own tasks LIFO (hot caches,
// depth-first fork-join); an idle worker steals FIFO from a random victim (the oldest,
// usually largest, piece of work). Tasks from threads outside the pool enter through a
// shared injection queue, from which workers take batches. The default.
struct work_stealing {};

template <class P>
concept policy = std::is_same_v<P, work_stealing>;

}  // namespace bobbin
