// The asynchronous waiters beside the portable parking (a mutex and condition variable per
// blocking waiter, used off Linux): every test of test_atomics_async.cpp, same semantics.
// The macro must come before any bobbin header; a program defines it everywhere or nowhere.
#define BOBBIN_ATOMICS_PORTABLE_PARKING 1

#include "test_atomics_async.cpp"  // NOLINT(bugprone-suspicious-include): the same cases, other parking
