#pragma once
// bobbin: Node.js worker_threads for C++20. The umbrella header.

#include "atomics.hpp"
#include "errors.hpp"
#include "future.hpp"
#include "policies.hpp"
#include "pool.hpp"
#include "shared_buffer.hpp"
#include "task_group.hpp"
