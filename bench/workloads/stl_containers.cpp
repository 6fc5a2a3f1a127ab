/*
 * stl_containers: what most C++ programs do with the standard containers.
 *
 * A word stream is drawn from a vocabulary of V generated words (3..20
 * characters, short ones more likely, so that about one word in ten is longer
 * than libstdc++'s 15-character small-string buffer and its copies go to the
 * heap), word ranks Zipf-distributed (weight 1/rank). For every word of the
 * stream:
 *   - an index std::map<std::string, std::vector<int>> gets the word's
 *     position pushed back (map nodes, vectors growing by doubling);
 *   - a table std::unordered_map<std::string, Obj> is looked up; a new word
 *     gets an Obj holding a std::shared_ptr<Entry> (make_shared or new: one
 *     or two allocations), an Entry carrying a copy of the word and a small
 *     C buffer (a self-describing object, verified when the Entry dies);
 *     one hit in eight copies the shared_ptr into a ring of recent entries,
 *     which keeps erased entries alive a while;
 *   - every 4th word builds a temporary qualified name prev + "::" + word
 *     (longer than the small-string buffer), looks it up, and inserts one in
 *     eight of them into the table;
 *   - every 16th word erases a random (Zipf) word from the table and one in
 *     two of those from the index;
 *   - words are appended to a line string; a full line (over 120 chars) is
 *     moved into a ring of the last 64 lines and a fresh one is started.
 * At the end of a round the containers are summarized into the checksum and
 * destroyed; the next round rebuilds them from the continuing stream.
 *
 * The checksum covers the containers' contents and every Entry's buffer, so
 * it depends only on the parameters. ops= counts the words processed.
 */
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "common.h"

BENCH_MAIN_DEFS

namespace {

uint64_t g_sum;      // hashes of the freed Entry buffers
uint64_t g_tag = 1;  // next Entry buffer's tag

struct Entry {
  std::string name;
  long hits = 0;
  void *blob;  // a C buffer owned by the entry (16..96 B)
  Entry(const std::string &n, size_t size) : name(n), blob(obj_new(size, g_tag++)) {}
  Entry(const Entry &) = delete;
  Entry &operator=(const Entry &) = delete;
  ~Entry() { g_sum += obj_free(blob); }
};

struct Obj {
  std::shared_ptr<Entry> entry;
  long count = 0;
  int first = 0;
};

// Zipf sampler over ranks 0..n-1 with integer weights 2^32 / (rank + 1).
struct Zipf {
  std::vector<uint64_t> cum;
  explicit Zipf(size_t n) : cum(n) {
    uint64_t c = 0;
    for (size_t k = 0; k < n; k++) cum[k] = c += (uint64_t(1) << 32) / (k + 1);
  }
  size_t operator()(rng_t &rng) const {
    uint64_t u = rng_below(&rng, cum.back());
    size_t lo = 0, hi = cum.size() - 1;
    while (lo < hi) {
      size_t mid = (lo + hi) / 2;
      if (cum[mid] > u)
        hi = mid;
      else
        lo = mid + 1;
    }
    return lo;
  }
};

std::vector<std::string> make_vocab(rng_t &rng, size_t n) {
  std::vector<std::string> v;
  v.reserve(n);
  for (size_t i = 0; i < n; i++) {
    // The shorter of two uniform lengths in 3..20: short words dominate.
    size_t a = rng_range(&rng, 3, 20), b = rng_range(&rng, 3, 20);
    std::string w;
    for (size_t j = 0; j < (a < b ? a : b); j++) w += char('a' + rng_below(&rng, 26));
    v.push_back(std::move(w));
  }
  return v;
}

std::shared_ptr<Entry> make_entry(rng_t &rng, const std::string &name) {
  size_t size = rng_range(&rng, 2, 12) * 8;
  if (rng_below(&rng, 2)) return std::make_shared<Entry>(name, size);
  return std::shared_ptr<Entry>(new Entry(name, size));
}

uint64_t str_hash(const std::string &s) { return bench_fnv(0, s.data(), s.size()); }

struct Round {
  std::map<std::string, std::vector<int>> index;
  std::unordered_map<std::string, Obj> table;
  std::vector<std::shared_ptr<Entry>> recent = std::vector<std::shared_ptr<Entry>>(256);
  std::vector<std::string> lines = std::vector<std::string>(64);
  std::string line, prev;
  size_t nrecent = 0, nlines = 0;
  uint64_t sum = 0;

  void word(rng_t &rng, const std::string &vocab_word, int pos) {
    std::string key(vocab_word);
    index[key].push_back(pos);
    auto it = table.find(key);
    if (it == table.end()) {
      Obj o;
      o.entry = make_entry(rng, key);
      o.first = pos;
      table.emplace(key, std::move(o));
    } else {
      it->second.count++;
      it->second.entry->hits++;
      if (rng_below(&rng, 8) == 0) recent[nrecent++ % recent.size()] = it->second.entry;
    }
    if (pos % 4 == 0 && !prev.empty()) qualified(rng, key);
    line += key;
    line += ' ';
    if (line.size() > 120) {
      sum = bench_mix(sum ^ str_hash(line));
      lines[nlines++ % lines.size()] = std::move(line);
      line = std::string();
    }
    prev = std::move(key);
  }

  void qualified(rng_t &rng, const std::string &key) {
    std::string q = prev + "::" + key;
    auto it = table.find(q);
    if (it != table.end()) {
      it->second.count++;
      sum += it->second.entry->name.size();
    } else if (rng_below(&rng, 8) == 0) {
      Obj o;
      o.entry = make_entry(rng, q);
      table.emplace(std::move(q), std::move(o));
    }
  }

  void erase(rng_t &rng, const std::string &victim) {
    auto it = table.find(victim);
    if (it != table.end()) {
      sum = bench_mix(sum ^ (uint64_t)it->second.count);
      table.erase(it);
    }
    if (rng_below(&rng, 2) == 0) index.erase(victim);
  }

  // Folds the containers into the checksum (the table in a commutative sum:
  // its iteration order is the hash table's).
  uint64_t summary() const {
    uint64_t s = sum;
    for (auto &kv : index) {
      s = bench_mix(s ^ str_hash(kv.first));
      s = bench_mix(s ^ (kv.second.size() * 1000003 + (uint64_t)kv.second.back()));
    }
    uint64_t t = 0;
    for (auto &kv : table)
      t += bench_mix(str_hash(kv.first) ^ (uint64_t)kv.second.count ^
                     ((uint64_t)kv.second.entry->hits << 32) ^ (uint64_t)kv.second.first);
    return bench_mix(s ^ t ^ index.size() ^ (table.size() << 20));
  }
};

}  // namespace

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"words", 20000, 200000, "words processed per round", 0},
      {"rounds", 2, 4, "rounds: containers built from scratch, then destroyed", 0},
      {"vocab", 5000, 50000, "distinct words (Zipf-distributed ranks)", 0},
      {"seed", 11, 11, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("stl_containers",
               "std::map/unordered_map of strings, vectors, shared_ptr: a word stream", ps, np,
               argc, argv);
  const long words = bench_get(ps, np, "words");
  const long rounds = bench_get(ps, np, "rounds");
  const long nvocab = bench_get(ps, np, "vocab");
  if (words < 1 || rounds < 1 || nvocab < 1) {
    fprintf(stderr, "stl_containers: bad parameters\n");
    return 2;
  }
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));
  std::vector<std::string> vocab = make_vocab(rng, (size_t)nvocab);
  Zipf zipf((size_t)nvocab);

  uint64_t sum = 0;
  double t0 = bench_now();
  for (long r = 0; r < rounds; r++) {
    Round round;
    for (long i = 0; i < words; i++) {
      round.word(rng, vocab[zipf(rng)], (int)i);
      if (i % 16 == 15) round.erase(rng, vocab[zipf(rng)]);
    }
    sum = bench_mix(sum ^ round.summary());
  }
  double t1 = bench_now();
  printf("ops=%ld\n", words * rounds);
  return bench_finish(sum ^ g_sum, t1 - t0);
}
