// string_map_churn: std::string / std::map / std::unordered_map / std::vector
// churn across more threads than cores, for gomem's preload tests. It is a
// plain program (not linked to gomem); compare.sh runs it with and without
// LD_PRELOAD=libgomem.so and diffs the output.
//
// Each worker thread, from its own deterministic seed, repeatedly builds an
// ordered map and a hash map of random strings (short, SSO-busting, page-sized
// and occasionally hundreds of KiB), a vector of strings it sorts, erases
// half of everything, rebuilds, and checksums what it holds. Along the way it
// sends strings and whole maps to the next thread through a mutex-protected
// inbox; each message travels kHops threads (every hop appends to the string,
// reallocating memory another thread allocated) before the last thread
// checks and frees it. So memory is routinely allocated in one thread,
// resized in a second and freed in a third.
//
// The output is independent of scheduling: a thread's own work depends only
// on its seed, and the messages a thread finally consumes are a fixed set
// (those that started kHops threads before it) whose checksum is a sum, so
// arrival order does not matter. Every message carries the hash of its
// contents, verified on every hop: corruption is reported where it is seen.
//
// Usage: string_map_churn [THREADS [ROUNDS]]   (defaults 8 and 40)
#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <deque>
#include <map>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>
#include <thread>
#include <unordered_map>
#include <utility>
#include <vector>

namespace {

constexpr int kHops = 3;

// splitmix64: the same sequence on every platform and standard library.
struct Rng {
  uint64_t s;
  uint64_t next() {
    uint64_t z = (s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
  }
  uint64_t below(uint64_t n) { return next() % n; }
};

uint64_t fnv(std::string_view s, uint64_t h = 0xCBF29CE484222325ull) {
  for (unsigned char c : s) h = (h ^ c) * 0x100000001B3ull;
  return h;
}

uint64_t mix(uint64_t h, uint64_t v) {
  h ^= v + 0x9E3779B97F4A7C15ull + (h << 6) + (h >> 2);
  return h * 0xFF51AFD7ED558CCDull;
}

// A string of a length drawn from a mix of sizes: mostly small, some over a
// page, rarely a few hundred KiB (large objects).
std::string random_string(Rng& r) {
  uint64_t pick = r.below(1000);
  size_t len;
  if (pick < 600)
    len = 1 + r.below(40);
  else if (pick < 900)
    len = 40 + r.below(400);
  else if (pick < 997)
    len = 1000 + r.below(12000);
  else
    len = 100000 + r.below(300000);
  std::string s(len, '\0');
  uint64_t x = r.next();
  for (size_t i = 0; i < len; i++) {
    if (i % 8 == 0) x = x * 6364136223846793005ull + 1442695040888963407ull;
    s[i] = static_cast<char>('!' + (x >> (56 - 8 * (i % 8)) & 0xFF) % 94);
  }
  return s;
}

using StrMap = std::map<std::string, std::string>;

uint64_t hash_map(const StrMap& m) {
  uint64_t h = m.size();
  for (const auto& [k, v] : m) h = mix(h, fnv(v, fnv(k)));
  return h;
}

struct Msg {
  std::string s;
  std::unique_ptr<StrMap> map;  // sometimes a whole map travels too
  uint64_t expect = 0;          // hash of s (and map) as last written
  int hops = 0;
  int origin = 0;
};

uint64_t hash_msg(const Msg& m) {
  uint64_t h = fnv(m.s);
  if (m.map) h = mix(h, hash_map(*m.map));
  return h;
}

struct Inbox {
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Msg> q;
};

struct Shared {
  int nthreads;
  std::vector<Inbox> inboxes;
  std::atomic<long> outstanding{0};  // messages created and not yet consumed
  std::atomic<int> producing{0};     // threads still doing their own work
  std::atomic<bool> corrupt{false};
  explicit Shared(int n) : nthreads(n), inboxes(n), producing(n) {}

  void send(int to, Msg&& m) {
    Inbox& in = inboxes[to];
    {
      std::lock_guard<std::mutex> l(in.mu);
      in.q.push_back(std::move(m));
    }
    in.cv.notify_one();
  }
  bool finished() const { return producing.load() == 0 && outstanding.load() == 0; }
  void wake_all() {
    for (Inbox& in : inboxes) {
      { std::lock_guard<std::mutex> l(in.mu); }
      in.cv.notify_all();
    }
  }
};

struct Result {
  uint64_t own = 0;       // checksum of the thread's own work
  uint64_t consumed = 0;  // sum of the hashes of the messages it consumed
  long nconsumed = 0;
  long nforwarded = 0;
  long nsent = 0;
};

class Worker {
 public:
  Worker(Shared& sh, int id, int rounds) : sh_(sh), id_(id), rounds_(rounds), rng_{0x1234567ull * (id + 1)} {}

  void run() {
    for (int round = 0; round < rounds_; round++) {
      one_round(round);
      drain(false);
    }
    if (sh_.producing.fetch_sub(1) == 1 && sh_.outstanding.load() == 0) sh_.wake_all();
    drain(true);
  }

  Result result;

 private:
  void one_round(int round) {
    uint64_t h = mix(result.own, round);
    const size_t n = 200 + rng_.below(600);

    // An ordered map of random strings.
    StrMap m;
    for (size_t i = 0; i < n; i++) {
      std::string k = random_string(rng_);  // (argument evaluation order is unspecified)
      m.emplace(std::move(k), random_string(rng_));
    }
    h = mix(h, hash_map(m));

    // A hash map of string -> vector<string>, grown by push_back.
    std::unordered_map<std::string, std::vector<std::string>> um;
    if (round % 2) um.reserve(n / 4);
    for (size_t i = 0; i < n; i++) {
      std::string key = "k" + std::to_string(rng_.below(n / 3 + 1));
      key += std::string(rng_.below(30), 'x');
      um[std::move(key)].push_back(random_string(rng_));
    }
    uint64_t uh = 0;  // unordered iteration order is not ours to rely on: sum
    for (const auto& [k, v] : um) {
      uint64_t e = fnv(k);
      for (const auto& s : v) e = mix(e, fnv(s));
      uh += e;
    }
    h = mix(h, uh);

    // A vector of strings, sorted, deduplicated.
    std::vector<std::string> vec;
    for (size_t i = 0; i < n; i++) vec.push_back(random_string(rng_).substr(0, 1 + rng_.below(64)));
    std::sort(vec.begin(), vec.end());
    vec.erase(std::unique(vec.begin(), vec.end()), vec.end());
    h = mix(h, vec.size());
    h = mix(h, fnv(vec.front()));
    h = mix(h, fnv(vec.back()));

    // Erase about half of the maps, then rebuild them.
    for (auto it = m.begin(); it != m.end();) it = rng_.below(2) ? m.erase(it) : std::next(it);
    for (auto it = um.begin(); it != um.end();) it = rng_.below(2) ? um.erase(it) : std::next(it);
    for (size_t i = 0; i < n / 2; i++) {
      std::string k = random_string(rng_);
      m[k] += random_string(rng_);  // new key, or append to an old value
      um[std::move(k)].emplace_back(rng_.below(5000), 'y');
    }
    h = mix(h, hash_map(m));
    h = mix(h, um.size());

    // Send strings (moved out of the map) and sometimes the map itself.
    const size_t nsend = 20 + rng_.below(40);
    for (size_t i = 0; i < nsend && !m.empty(); i++) {
      auto it = m.begin();
      std::advance(it, rng_.below(m.size()));
      auto node = m.extract(it);
      Msg msg;
      msg.s = std::move(node.key()) + "=" + std::move(node.mapped());
      msg.origin = id_;
      if (i == 0 && round % 3 == 0) {
        auto sub = std::make_unique<StrMap>();
        for (size_t j = 0; j < 50 && !m.empty(); j++) {
          auto sn = m.extract(m.begin());
          sub->insert(std::move(sn));
        }
        msg.map = std::move(sub);
      }
      msg.expect = hash_msg(msg);
      sh_.outstanding.fetch_add(1);
      sh_.send((id_ + 1) % sh_.nthreads, std::move(msg));
      result.nsent++;
    }
    h = mix(h, hash_map(m));
    result.own = h;
    // m, um and vec die here, with whatever messages left in them.
  }

  void handle(Msg&& msg) {
    if (hash_msg(msg) != msg.expect) {
      std::fprintf(stderr, "thread %d: corrupt message from thread %d after %d hops (length %zu)\n", id_, msg.origin,
                   msg.hops, msg.s.size());
      sh_.corrupt.store(true);
    }
    if (msg.hops < kHops) {
      // Grow the string (realloc of another thread's memory), then pass it on.
      msg.hops++;
      msg.s.append(static_cast<size_t>(17 * msg.hops + msg.s.size() % 100), static_cast<char>('a' + msg.hops));
      if (msg.map) (*msg.map)["hop" + std::to_string(msg.hops)] = msg.s.substr(0, 100);
      msg.expect = hash_msg(msg);
      sh_.send((id_ + 1) % sh_.nthreads, std::move(msg));
      result.nforwarded++;
      return;
    }
    result.consumed += mix(msg.expect, msg.origin);
    result.nconsumed++;
    { Msg dead = std::move(msg); }  // freed here, kHops threads from where it was made
    if (sh_.outstanding.fetch_sub(1) == 1 && sh_.producing.load() == 0) sh_.wake_all();
  }

  // Handles the messages in this thread's inbox; with wait, until none are left anywhere.
  void drain(bool wait) {
    Inbox& in = sh_.inboxes[id_];
    for (;;) {
      std::deque<Msg> batch;
      {
        std::unique_lock<std::mutex> l(in.mu);
        if (wait) in.cv.wait(l, [&] { return !in.q.empty() || sh_.finished(); });
        if (in.q.empty()) return;
        batch.swap(in.q);
      }
      for (Msg& m : batch) handle(std::move(m));
      if (!wait) return;
    }
  }

  Shared& sh_;
  int id_;
  int rounds_;
  Rng rng_;
};

}  // namespace

int main(int argc, char** argv) {
  int nthreads = argc > 1 ? std::atoi(argv[1]) : 8;
  int rounds = argc > 2 ? std::atoi(argv[2]) : 40;
  if (nthreads < 1 || rounds < 1) {
    std::fprintf(stderr, "usage: string_map_churn [THREADS [ROUNDS]]\n");
    return 2;
  }
  Shared sh(nthreads);
  std::vector<std::unique_ptr<Worker>> workers;
  for (int i = 0; i < nthreads; i++) workers.push_back(std::make_unique<Worker>(sh, i, rounds));
  std::vector<std::thread> threads;
  for (auto& w : workers) threads.emplace_back([&w] { w->run(); });
  for (auto& t : threads) t.join();

  uint64_t total = 0;
  long sent = 0, consumed = 0, forwarded = 0;
  for (int i = 0; i < nthreads; i++) {
    const Result& r = workers[i]->result;
    std::printf("thread %d: own %016llx consumed %6ld (%016llx) forwarded %6ld sent %6ld\n", i,
                static_cast<unsigned long long>(r.own), r.nconsumed, static_cast<unsigned long long>(r.consumed),
                r.nforwarded, r.nsent);
    total = mix(total, r.own);
    total = mix(total, r.consumed);
    sent += r.nsent, consumed += r.nconsumed, forwarded += r.nforwarded;
  }
  std::printf("messages: sent %ld forwarded %ld consumed %ld outstanding %ld\n", sent, forwarded, consumed,
              sh.outstanding.load());
  std::printf("checksum %016llx\n", static_cast<unsigned long long>(total));
  if (sh.corrupt.load() || consumed != sent || forwarded != kHops * sent || sh.outstanding.load() != 0) {
    std::printf("FAILED\n");
    return 1;
  }
  std::printf("string_map_churn done\n");
  return 0;
}
