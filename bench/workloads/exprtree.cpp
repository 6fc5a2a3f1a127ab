/*
 * exprtree: many small short-lived objects in an application-like pattern.
 *
 * A tiny computer-algebra loop: build a random expression over a few named
 * variables, differentiate it repeatedly with respect to random variables,
 * simplify after every step (constant folding, flattening, dropping zeros and
 * ones), print each result to a std::string and evaluate it modulo the
 * Mersenne prime 2^61-1 in an environment held in a std::map. Every step
 * builds a fresh tree and drops the old one, so the allocator sees a stream
 * of small objects of several sizes (nodes with vtables, std::vector backing
 * arrays, std::string buffers, map nodes) with short, nested lifetimes, in
 * the spirit of symbolic-math, compiler and interpreter workloads.
 */
#include <cstdint>
#include <cstdio>
#include <map>
#include <memory>
#include <string>
#include <vector>

#include "common.h"

BENCH_MAIN_DEFS

namespace {

constexpr uint64_t kP = (uint64_t(1) << 61) - 1;

uint64_t addm(uint64_t a, uint64_t b) {
  uint64_t s = a + b;
  return s >= kP ? s - kP : s;
}
uint64_t mulm(uint64_t a, uint64_t b) {
  unsigned __int128 p = (unsigned __int128)a * b;
  uint64_t lo = (uint64_t)(p & kP), hi = (uint64_t)(p >> 61);
  return addm(lo, hi);
}
uint64_t powm(uint64_t b, uint64_t e) {
  uint64_t r = 1;
  while (e) {
    if (e & 1) r = mulm(r, b);
    b = mulm(b, b);
    e >>= 1;
  }
  return r;
}

using Env = std::map<std::string, uint64_t>;

struct Expr;
using Ptr = std::unique_ptr<Expr>;

struct Expr {
  virtual ~Expr() = default;
  virtual Ptr clone() const = 0;
  virtual Ptr deriv(const std::string &x) const = 0;
  virtual Ptr simplify() const = 0;
  virtual uint64_t eval(const Env &env) const = 0;
  virtual void print(std::string &out) const = 0;
  virtual size_t count() const = 0;
  virtual bool is_const(uint64_t *v) const {
    (void)v;
    return false;
  }
};

struct Const final : Expr {
  uint64_t v;
  explicit Const(uint64_t v_) : v(v_ % kP) {}
  Ptr clone() const override { return std::make_unique<Const>(v); }
  Ptr deriv(const std::string &) const override { return std::make_unique<Const>(0); }
  Ptr simplify() const override { return clone(); }
  uint64_t eval(const Env &) const override { return v; }
  void print(std::string &out) const override { out += std::to_string(v); }
  size_t count() const override { return 1; }
  bool is_const(uint64_t *out) const override {
    *out = v;
    return true;
  }
};

struct Var final : Expr {
  std::string name;
  explicit Var(std::string n) : name(std::move(n)) {}
  Ptr clone() const override { return std::make_unique<Var>(name); }
  Ptr deriv(const std::string &x) const override { return std::make_unique<Const>(x == name); }
  Ptr simplify() const override { return clone(); }
  uint64_t eval(const Env &env) const override {
    auto it = env.find(name);
    return it == env.end() ? 0 : it->second;
  }
  void print(std::string &out) const override { out += name; }
  size_t count() const override { return 1; }
};

struct Nary : Expr {
  std::vector<Ptr> args;
  void print_with(std::string &out, const char *op) const {
    out += '(';
    for (size_t i = 0; i < args.size(); i++) {
      if (i) out += op;
      args[i]->print(out);
    }
    out += ')';
  }
  size_t count() const override {
    size_t n = 1;
    for (auto &a : args) n += a->count();
    return n;
  }
};

struct Add final : Nary {
  Ptr clone() const override {
    auto r = std::make_unique<Add>();
    r->args.reserve(args.size());
    for (auto &a : args) r->args.push_back(a->clone());
    return r;
  }
  Ptr deriv(const std::string &x) const override {
    auto r = std::make_unique<Add>();
    for (auto &a : args) r->args.push_back(a->deriv(x));
    return r;
  }
  Ptr simplify() const override;
  uint64_t eval(const Env &env) const override {
    uint64_t s = 0;
    for (auto &a : args) s = addm(s, a->eval(env));
    return s;
  }
  void print(std::string &out) const override { print_with(out, " + "); }
};

struct Mul final : Nary {
  Ptr clone() const override {
    auto r = std::make_unique<Mul>();
    r->args.reserve(args.size());
    for (auto &a : args) r->args.push_back(a->clone());
    return r;
  }
  Ptr deriv(const std::string &x) const override {
    // Product rule: sum over i of (f1 .. fi' .. fn).
    auto r = std::make_unique<Add>();
    for (size_t i = 0; i < args.size(); i++) {
      auto term = std::make_unique<Mul>();
      for (size_t j = 0; j < args.size(); j++)
        term->args.push_back(i == j ? args[j]->deriv(x) : args[j]->clone());
      r->args.push_back(std::move(term));
    }
    return r;
  }
  Ptr simplify() const override;
  uint64_t eval(const Env &env) const override {
    uint64_t p = 1;
    for (auto &a : args) p = mulm(p, a->eval(env));
    return p;
  }
  void print(std::string &out) const override { print_with(out, " * "); }
};

struct Pow final : Expr {
  Ptr base;
  uint32_t e;
  Pow(Ptr b, uint32_t e_) : base(std::move(b)), e(e_) {}
  Ptr clone() const override { return std::make_unique<Pow>(base->clone(), e); }
  Ptr deriv(const std::string &x) const override {
    // d(b^e) = e * b^(e-1) * b'
    auto r = std::make_unique<Mul>();
    r->args.push_back(std::make_unique<Const>(e));
    r->args.push_back(std::make_unique<Pow>(base->clone(), e - 1));
    r->args.push_back(base->deriv(x));
    return r;
  }
  Ptr simplify() const override {
    Ptr b = base->simplify();
    uint64_t v;
    if (e == 0) return std::make_unique<Const>(1);
    if (e == 1) return b;
    if (b->is_const(&v)) return std::make_unique<Const>(powm(v, e));
    return std::make_unique<Pow>(std::move(b), e);
  }
  uint64_t eval(const Env &env) const override { return powm(base->eval(env), e); }
  void print(std::string &out) const override {
    out += '(';
    base->print(out);
    out += ")^";
    out += std::to_string(e);
  }
  size_t count() const override { return 1 + base->count(); }
};

Ptr Add::simplify() const {
  auto r = std::make_unique<Add>();
  uint64_t c = 0;
  for (auto &a : args) {
    Ptr s = a->simplify();
    uint64_t v;
    if (s->is_const(&v)) {
      c = addm(c, v);
    } else if (auto *inner = dynamic_cast<Add *>(s.get())) {
      for (auto &ia : inner->args) {
        if (ia->is_const(&v)) c = addm(c, v);
        else r->args.push_back(std::move(ia));
      }
    } else {
      r->args.push_back(std::move(s));
    }
  }
  if (c != 0 || r->args.empty()) r->args.push_back(std::make_unique<Const>(c));
  if (r->args.size() == 1) return std::move(r->args[0]);
  return r;
}

Ptr Mul::simplify() const {
  auto r = std::make_unique<Mul>();
  uint64_t c = 1;
  for (auto &a : args) {
    Ptr s = a->simplify();
    uint64_t v;
    if (s->is_const(&v)) {
      c = mulm(c, v);
    } else if (auto *inner = dynamic_cast<Mul *>(s.get())) {
      for (auto &ia : inner->args) {
        if (ia->is_const(&v)) c = mulm(c, v);
        else r->args.push_back(std::move(ia));
      }
    } else {
      r->args.push_back(std::move(s));
    }
    if (c == 0) return std::make_unique<Const>(0);
  }
  if (c != 1 || r->args.empty()) r->args.insert(r->args.begin(), std::make_unique<Const>(c));
  if (r->args.size() == 1) return std::move(r->args[0]);
  return r;
}

const char *const kNames[] = {"x", "y", "z", "t", "velocity_component_alpha",
                              "temperature_gradient_beta"};
constexpr int kNumNames = 6;

Ptr random_expr(rng_t &rng, int depth) {
  uint64_t k = rng_below(&rng, depth <= 0 ? 2 : 10);
  if (k == 0) return std::make_unique<Const>(rng_range(&rng, 1, 9));
  if (k == 1) return std::make_unique<Var>(kNames[rng_below(&rng, kNumNames)]);
  if (k <= 5) {
    auto r = std::make_unique<Add>();
    int n = (int)rng_range(&rng, 2, 4);
    for (int i = 0; i < n; i++) r->args.push_back(random_expr(rng, depth - 1));
    return r;
  }
  if (k <= 8) {
    auto r = std::make_unique<Mul>();
    int n = (int)rng_range(&rng, 2, 3);
    for (int i = 0; i < n; i++) r->args.push_back(random_expr(rng, depth - 1));
    return r;
  }
  return std::make_unique<Pow>(random_expr(rng, depth - 1), (uint32_t)rng_range(&rng, 2, 5));
}

}  // namespace

int main(int argc, char **argv) {
  bench_param_t ps[] = {
      {"trees", 40, 5500, "random expressions processed", 0},
      {"depth", 4, 5, "depth of each random expression", 0},
      {"derivs", 3, 3, "successive derivatives of each expression", 0},
      {"maxnodes", 20000, 20000, "stop differentiating a tree past this size", 0},
      {"seed", 7, 7, "random seed", 0},
  };
  const int np = BENCH_NPARAMS(ps);
  bench_params("exprtree",
               "symbolic differentiation/simplification: many small short-lived objects", ps, np,
               argc, argv);
  const long trees = bench_get(ps, np, "trees");
  const int depth = (int)bench_get(ps, np, "depth");
  const long derivs = bench_get(ps, np, "derivs");
  const size_t maxnodes = (size_t)bench_get(ps, np, "maxnodes");
  rng_t rng;
  rng_seed(&rng, (uint64_t)bench_get(ps, np, "seed"));

  uint64_t sum = 0;
  unsigned long long nodes = 0, chars = 0;
  double t0 = bench_now();
  for (long t = 0; t < trees; t++) {
    Env env;
    for (int i = 0; i < kNumNames; i++) env[kNames[i]] = rng_range(&rng, 1, 1000);
    Ptr e = random_expr(rng, depth)->simplify();
    for (long d = 0; d <= derivs; d++) {
      size_t n = e->count();
      nodes += n;
      std::string s;
      e->print(s);
      chars += s.size();
      sum = bench_mix(sum ^ bench_fnv(0, s.data(), s.size()));
      sum = bench_mix(sum ^ e->eval(env));
      if (d == derivs || n > maxnodes) break;
      Ptr de = e->deriv(kNames[rng_below(&rng, kNumNames)]);
      e = de->simplify();
    }
  }
  double t1 = bench_now();
  printf("nodes=%llu chars=%llu\n", nodes, chars);
  return bench_finish(sum, t1 - t0);
}
