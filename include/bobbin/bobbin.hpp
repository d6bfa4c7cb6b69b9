#pragma once
// bobbin: Node.js worker_threads for C++20. The umbrella header.

#include "atomics.hpp"
#include "broadcast_channel.hpp"
#include "channel.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "message_port.hpp"
#include "policies.hpp"
#include "pool.hpp"
#include "shared_buffer.hpp"
#include "supervisor.hpp"
#include "task.hpp"
#include "task_group.hpp"
#include "timer.hpp"
#include "worker.hpp"
