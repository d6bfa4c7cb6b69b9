// Must NOT compile: a task whose callable may throw from its destructor is refused at
// compile time, as channel messages with throwing destructors are (ctest checks the
// static_assert's message). BOBBIN_CASE picks the call: 0 submit, 1 post, 2 an argument.
#include <bobbin/pool.hpp>

struct throws_on_destruction {
  ~throws_on_destruction() noexcept(false) {}
  void operator()() const {}
};

int main() {
  bobbin::pool<> p({.threads = 1});
#if BOBBIN_CASE == 0
  p.submit(throws_on_destruction{}).get();
#elif BOBBIN_CASE == 1
  p.post(throws_on_destruction{});
#else
  p.submit([](const throws_on_destruction&) {}, throws_on_destruction{}).get();
#endif
}
