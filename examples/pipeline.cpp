// A three-stage pipeline connected by bounded channels: decode -> shrink -> store.
//
// The decoder is fast and the store is slow. Each channel holds at most 4 images, so once
// they are full the decoder's send() blocks until the store has caught up: backpressure.
// However many images there are, at most a dozen are in memory at any time.

#include <bobbin/channel.hpp>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <numeric>
#include <thread>
#include <vector>

struct image {
  int id;
  std::vector<std::uint8_t> pixels;
};

struct thumbnail {
  int id;
  std::uint64_t checksum;
};

int main() {
  constexpr int images = 40;
  // [stages]
  bobbin::channel<image> decoded(bobbin::capacity{4});
  bobbin::channel<thumbnail> shrunk(bobbin::capacity{4});

  std::atomic<int> stored{0};
  int most_ahead = 0;  // how far the decoder ever got ahead of the store

  {
    std::jthread decode([&] {
      for (int id = 0; id < images; ++id) {
        image img{id, std::vector<std::uint8_t>(256 * 256, static_cast<std::uint8_t>(id))};
        decoded.send(std::move(img));  // blocks while `decoded` is full
        most_ahead = std::max(most_ahead, id + 1 - stored.load());
      }
      decoded.close();  // no more images: the next stage drains, then its loop ends
    });

    std::jthread shrink([&] {
      for (image& img : decoded) {
        const auto sum = std::accumulate(img.pixels.begin(), img.pixels.end(), std::uint64_t{0});
        shrunk.send(thumbnail{img.id, sum});
      }
      shrunk.close();
    });

    std::jthread store([&] {
      for (const thumbnail& t : shrunk) {
        std::this_thread::sleep_for(std::chrono::milliseconds(2));  // a slow disk
        if (t.id % 10 == 0)
          std::printf("stored thumbnail %d (checksum %llu)\n", t.id, static_cast<unsigned long long>(t.checksum));
        ++stored;
      }
    });
  }  // the stages end in order: decode closes `decoded`, shrink closes `shrunk`
  // [stages]

  // At most 4 waiting in each channel, plus one in the hands of each later stage.
  std::printf("stored %d thumbnails; the decoder was at most %d images ahead of the store\n", stored.load(),
              most_ahead);
  return stored.load() == images && most_ahead <= 4 + 1 + 4 + 1 ? 0 : 1;
}
