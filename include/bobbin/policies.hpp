#pragma once
// Scheduling policies for bobbin::pool<Policy>; one header each under policy/, all plugged
// into the pool's one worker loop (policy/concept.hpp: what a policy is).
//
//   work_stealing  per-worker deques, idle workers steal (the default)
//   least_busy     each task to the worker with the fewest queued + running tasks
//   round_robin    each task to the next worker in turn
//   priority       one queue, higher task_options::priority first, FIFO within a level
//   fifo           one queue, first in first out

#include "policy/concept.hpp"
#include "policy/fifo.hpp"
#include "policy/least_busy.hpp"
#include "policy/priority.hpp"
#include "policy/round_robin.hpp"
#include "policy/work_stealing.hpp"
