#pragma once
// bobbin: Node.js worker_threads for C++20. The umbrella header.

#include "errors.hpp"
#include "future.hpp"
#include "policies.hpp"
#include "pool.hpp"
#include "task_group.hpp"
