// The portable parking (a mutex and condition variable per waiter, used off Linux), run
// through every test of test_atomics.cpp on this machine: same semantics, same counts.
// The macro must come before any bobbin header; a program defines it everywhere or nowhere.
#define BOBBIN_ATOMICS_PORTABLE_PARKING 1

#include "test_atomics.cpp"  // NOLINT(bugprone-suspicious-include): the same cases, other parking
