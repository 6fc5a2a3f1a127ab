#!/usr/bin/env python3
"""An allocation-heavy Python workload for gomem's preload tests.

It builds and drops big dicts and lists (millions of small objects, strings,
nested containers), grows and copies large buffers (so large allocations and
reallocs happen), hands objects between threads (so memory allocated in one
thread is freed in another) and collects reference cycles. Every phase prints
a checksum of what it computed; the output depends on nothing but the
arguments: no hash()- or set-order, no addresses, no times. compare.sh runs
the script with and without LD_PRELOAD=libgomem.so and diffs the output.

With PYTHONMALLOC=malloc every Python object goes through malloc/free;
with the default allocator only objects over 512 bytes and container
buffers do (pymalloc takes its arenas straight from mmap).

Usage: python_dicts.py [SCALE]   (SCALE multiplies the object counts; default 1)
"""
import gc
import queue
import sys
import threading
import weakref
import zlib

MASK = (1 << 64) - 1


class Checksum:
    """An order-dependent 64-bit mix of integers, plus a count."""

    def __init__(self):
        self.h = 0xCBF29CE484222325
        self.n = 0

    def add(self, v):
        self.h = ((self.h ^ (v & MASK)) * 0x100000001B3) & MASK
        self.n += 1

    def add_str(self, s):
        self.add(zlib.crc32(s.encode()) | (len(s) << 32))


results = []


def report(name, ck, extra=""):
    line = f"{name:<16} n={ck.n:<9} checksum={ck.h:016x}{extra}"
    results.append(ck.h)
    print(line, flush=True)


def phase_dict_of_strings(n):
    """A dict of n string keys to string values; delete half, refill, drop."""
    ck = Checksum()
    d = {f"key{i:07d}-{i * 7919 % 10007}": f"value-{i}|" * (1 + i % 5) for i in range(n)}
    ck.add(len(d))
    total = 0
    for k, v in d.items():
        total += len(k) * 3 + len(v)
    ck.add(total)
    # Delete every other entry, then add new keys into the holes.
    for i in range(0, n, 2):
        del d[f"key{i:07d}-{i * 7919 % 10007}"]
    ck.add(len(d))
    for i in range(n, n + n // 2):
        d[f"new{i}"] = [str(i), i, float(i) / 4]
    ck.add(len(d))
    # Look-ups of present and absent keys.
    hits = 0
    for i in range(0, n + n // 2, 3):
        if f"key{i:07d}-{i * 7919 % 10007}" in d or f"new{i}" in d:
            hits += 1
    ck.add(hits)
    # Insertion order is deterministic: sample it.
    for j, k in enumerate(d):
        if j % 9973 == 0:
            ck.add_str(k)
    last = next(reversed(d.items()))
    ck.add_str(repr(last))
    del d
    report("dict_of_strings", ck)


def phase_nested(n):
    """n small records (dicts holding lists and tuples), grouped and sorted."""
    ck = Checksum()
    records = []
    for i in range(n):
        records.append({
            "id": i,
            "name": "n" * (i % 40) + str(i),
            "tags": [str(i % 97), hex(i), f"t{i % 13}"],
            "pos": (i, i * 2, -i),
            "attrs": {"even": i % 2 == 0, "sq": i * i},
        })
    groups = {}
    for r in records:
        groups.setdefault(r["id"] % 1000, []).append(r)
    ck.add(len(groups))
    for key in sorted(groups):
        g = groups[key]
        g.sort(key=lambda r: (r["name"][-3:], -r["id"]))
        ck.add(key)
        ck.add(g[0]["id"])
        ck.add(g[-1]["id"])
        ck.add(sum(r["attrs"]["sq"] for r in g) & MASK)
    # Rebuild a transformed copy, then drop everything.
    flat = [(r["id"], "-".join(r["tags"]), r["pos"][2]) for r in records]
    flat.sort(key=lambda t: t[1])
    for t in flat[:: max(1, n // 200)]:
        ck.add_str(repr(t))
    del records, groups, flat
    report("nested", ck)


def phase_big_lists(n):
    """Large buffers: big lists, appends (reallocs), bytes and bytearrays."""
    ck = Checksum()
    a = list(range(5 * n))  # 5n int objects plus a 40n-byte buffer
    ck.add(sum(a) & MASK)
    b = [None] * (8 * n)  # one 64n-byte allocation
    for i in range(0, len(b), 1000):
        b[i] = a[i % len(a)]
    ck.add(sum(x for x in b if x is not None) & MASK)
    del b
    c = []
    for i in range(2 * n):  # grows by realloc, well into the large sizes
        c.append(i ^ 0x5A5A)
    ck.add(len(c))
    ck.add(sum(c[::1001]) & MASK)
    d = c[::-1] + a[: n // 2]  # more large copies
    ck.add(len(d))
    ck.add(d[len(d) // 3])
    del a, c, d
    ba = bytearray()
    for i in range(n // 20):  # bytearray growth: realloc of a large block
        ba += bytes([i & 0xFF]) * (1 + i % 300)
    ck.add(len(ba))
    ck.add(zlib.crc32(ba))
    big = b"".join(bytes([j & 0xFF]) * 65536 for j in range(max(1, n // 2000)))
    ck.add(len(big))
    ck.add(zlib.adler32(big))
    chunks = [big[i:i + 100000] for i in range(0, len(big), 100000)]
    ck.add(sum(zlib.crc32(x) for x in chunks) & MASK)
    del ba, big, chunks
    report("big_lists", ck)


def phase_strings(n):
    """Text processing: a generated text split into words and counted."""
    ck = Checksum()
    syll = ["ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "ve", "zu", "qua", "shi"]
    words = []
    x = 12345
    for _ in range(n):
        x = (x * 1103515245 + 12345) & 0x7FFFFFFF
        k = 1 + (x >> 16) % 4
        w = "".join(syll[(x >> (3 * j)) % len(syll)] for j in range(k))
        words.append(w)
    text = " ".join(words)  # one large string
    ck.add(len(text))
    del words
    counts = {}
    for w in text.split():
        counts[w] = counts.get(w, 0) + 1
    ck.add(len(counts))
    top = sorted(counts.items(), key=lambda kv: (-kv[1], kv[0]))[:50]
    for w, c in top:
        ck.add_str(w)
        ck.add(c)
    upper = text.upper().replace("KA", "<ka>")
    ck.add(len(upper))
    lines = [text[i:i + 80] for i in range(0, len(text), 80)]
    ck.add(len(lines))
    ck.add(zlib.crc32("\n".join(reversed(lines)).encode()))
    fmt = ["{:>8}|{:<12}|{:08x}".format(i, w, i * 31) for i, (w, _) in enumerate(counts.items())]
    ck.add_str(fmt[len(fmt) // 2])
    del text, counts, upper, lines, fmt
    report("strings", ck)


def phase_threads(n, nthreads=6):
    """Producers build objects, consumers (other threads) drop them."""
    q = queue.Queue(maxsize=256)
    per = n // nthreads
    sums = [0] * 3
    lock = threading.Lock()

    def producer(t):
        for i in range(per):
            v = t * per + i
            item = {"v": v, "s": f"item-{v}-" + "x" * (v % 200), "l": list(range(v % 50))}
            if v % 97 == 0:
                item["blob"] = bytes(v % 251 for _ in range(1)) * (20000 + v % 5000)
            q.put(item)

    def consumer():
        local = 0
        while True:
            item = q.get()
            if item is None:
                break
            local += item["v"] * 3 + len(item["s"]) + sum(item["l"]) + len(item.get("blob", b""))
            del item
        with lock:
            sums[0] += local

    consumers = [threading.Thread(target=consumer) for _ in range(2)]
    producers = [threading.Thread(target=producer, args=(t,)) for t in range(nthreads)]
    for th in consumers + producers:
        th.start()
    for th in producers:
        th.join()
    for _ in consumers:
        q.put(None)
    for th in consumers:
        th.join()
    ck = Checksum()
    ck.add(per * nthreads)
    ck.add(sums[0] & MASK)  # a sum: independent of which consumer got what
    report("threads", ck)


class Node:
    __slots__ = ("name", "peers", "data", "__weakref__")

    def __init__(self, name):
        self.name = name
        self.peers = []
        self.data = [name] * 3


def phase_cycles(n):
    """Reference cycles only the cycle collector can free."""
    ck = Checksum()
    refs = []
    for r in range(4):
        nodes = [Node(f"node{r}-{i}") for i in range(n // 4)]
        for i, node in enumerate(nodes):
            node.peers.append(nodes[(i * 7 + 1) % len(nodes)])
            node.peers.append(nodes[i - 1])
        refs = [weakref.ref(x) for x in nodes[::100]]
        ck.add(sum(len(x.name) for x in nodes))
        del nodes, node
        gc.collect()
        alive = sum(1 for w in refs if w() is not None)
        ck.add(alive)
        if alive:
            print(f"cycles: {alive} objects survived gc.collect()", flush=True)
    del refs
    report("cycles", ck)


def main():
    scale = float(sys.argv[1]) if len(sys.argv) > 1 else 1.0
    m = int(1_000_000 * scale)
    phase_dict_of_strings(m)
    phase_nested(m // 5)
    phase_big_lists(m)
    phase_strings(m)
    phase_threads(m // 10)
    phase_cycles(m // 5)
    total = Checksum()
    for h in results:
        total.add(h)
    print(f"total            checksum={total.h:016x}")
    print("python_dicts done")


if __name__ == "__main__":
    main()
