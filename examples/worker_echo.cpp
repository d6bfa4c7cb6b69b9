// Dedicated workers, the bobbin way of Node.js's worker_threads first example:
//
//   const worker = new Worker(__filename, { workerData: script });
//   worker.on('message', resolve);
//   worker.on('error', reject);
//   worker.on('exit', (code) => { if (code !== 0) reject(...); });
//   // and in the worker:  parentPort.postMessage(parse(workerData));
//
// Then an echo worker that answers every message on its parent port, and the lifecycle
// events with thread ids.

#include <bobbin/worker.hpp>

#include <cstddef>
#include <cstdio>
#include <exception>
#include <optional>
#include <sstream>
#include <stdexcept>
#include <string>
#include <variant>

namespace {

// [parse]
struct word_count {
  std::size_t words = 0;
  std::size_t lines = 0;
};

// The heavy work the worker does: here, counting words and lines.
word_count parse(const std::string& script) {
  if (script.empty()) throw std::invalid_argument("nothing to parse");
  word_count c;
  std::istringstream in(script);
  for (std::string line; std::getline(in, line); ++c.lines) {
    std::istringstream words(line);
    for (std::string w; words >> w;) ++c.words;
  }
  return c;
}

// Receives nothing, posts one word_count, gets the script as its worker_data.
using parser = bobbin::worker<std::monostate, word_count, std::string>;

void parse_in_a_worker(const std::string& script) {
  parser w([](parser::context& ctx) { ctx.parent_port().post_message(parse(ctx.worker_data())); },
           {.worker_data = script, .name = "parser"});
  w.on_error([](std::exception_ptr e) {
    try {
      std::rethrow_exception(e);
    } catch (const std::exception& x) {
      std::printf("  error event: %s\n", x.what());
    }
  });
  // receive() returns the worker's message, or nullopt once it exited without one.
  if (std::optional<word_count> c = w.receive()) std::printf("  %zu words, %zu lines\n", c->words, c->lines);
  std::printf("  exit code %d\n", w.join());
}
// [parse]

}  // namespace

int main() {
  std::printf("parse a script:\n");
  parse_in_a_worker("const x = 1;\nconsole.log(x);\n");
  std::printf("parse nothing (the worker throws):\n");
  parse_in_a_worker("");

  // [echo]
  // parentPort.on('message', (m) => parentPort.postMessage(m)): the worker answers until
  // its port closes.
  bobbin::worker<std::string> echo([](bobbin::worker_context<std::string>& ctx) {
    for (std::string& m : ctx.parent_port()) ctx.parent_port().post_message("echo: " + m);
  });
  for (const char* m : {"ping", "hello", "bye"}) {
    echo.post_message(m);
    std::printf("%s\n", echo.receive().value().c_str());
  }
  echo.terminate();  // closes the port: the loop above ends, the function returns
  std::printf("echo exited with %d\n", echo.join());
  // [echo]

  // [events]
  std::printf("main thread: thread id %llu\n", static_cast<unsigned long long>(bobbin::this_thread_id()));
  bobbin::worker<int> w(
      [](bobbin::worker_context<int>& ctx) {
        std::printf("  in the worker: thread id %llu, named %s\n",
                    static_cast<unsigned long long>(bobbin::this_thread_id()), ctx.name().c_str());
        return ctx.parent_port().receive().value_or(-1);  // the exit code we are sent
      },
      {.name = "events"});
  // Added after the constructor, yet never too late: an event that already fired calls
  // its handler at once.
  w.on_online([] { std::printf("  online\n"); });
  w.on_exit([](int code) { std::printf("  exit event, code %d\n", code); });
  w.post_message(7);
  std::printf("worker %llu joined with %d\n", static_cast<unsigned long long>(w.thread_id()), w.join());
  // [events]
}
