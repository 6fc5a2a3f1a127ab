"""python: a real program (Debian's /usr/bin/python3) timed whole.

Builds and drops dicts, lists, tuples and strings the way scripts do:
parse CSV-like text into records, group and sort them, build an inverted
index of words, render a report with string joins and f-strings, keep a
rolling LRU-ish cache in a dict, and throw everything away, round after round.

CPython serves objects up to 512 bytes from its own pool allocator (pymalloc)
and everything bigger (list and dict storage, long strings, the pools' own
256 KiB arenas) from malloc. The harness runs it twice: as is ("python") and
with PYTHONMALLOC=malloc ("python_malloc"), which sends every object to
malloc.

Usage: py_alloc.py [quick|full] [rounds=N] [records=N]
Prints the same key=value lines as the C workloads. The checksum uses zlib's
crc32, never hash() (string hashes are randomized per process).
"""
import ctypes
import sys
import time
import zlib

PRESETS = {
    "quick": {"rounds": 2, "records": 3000},
    "full": {"rounds": 3, "records": 40000},
}


def malloc_lib():
    """The file that provides the malloc this process binds to: the first
    object after the executable, in load order (LD_PRELOAD objects come
    first), that defines malloc itself (same rule as the C workloads)."""
    try:
        class LinkMap(ctypes.Structure):
            pass
        LinkMap._fields_ = [("l_addr", ctypes.c_void_p), ("l_name", ctypes.c_char_p),
                            ("l_ld", ctypes.c_void_p), ("l_next", ctypes.POINTER(LinkMap)),
                            ("l_prev", ctypes.POINTER(LinkMap))]

        class DlInfo(ctypes.Structure):
            _fields_ = [("dli_fname", ctypes.c_char_p), ("dli_fbase", ctypes.c_void_p),
                        ("dli_sname", ctypes.c_char_p), ("dli_saddr", ctypes.c_void_p)]
        libc = ctypes.CDLL("libc.so.6")
        libc.dlopen.restype = ctypes.c_void_p
        libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
        libc.dlsym.restype = ctypes.c_void_p
        libc.dlsym.argtypes = [ctypes.c_void_p, ctypes.c_char_p]
        libc.dlinfo.argtypes = [ctypes.c_void_p, ctypes.c_int, ctypes.c_void_p]
        libc.dladdr.argtypes = [ctypes.c_void_p, ctypes.c_void_p]
        libc.dlclose.argtypes = [ctypes.c_void_p]
        RTLD_LAZY, RTLD_NOLOAD, RTLD_DI_LINKMAP = 0x1, 0x4, 2
        lm = ctypes.POINTER(LinkMap)()
        if libc.dlinfo(libc.dlopen(None, RTLD_LAZY), RTLD_DI_LINKMAP, ctypes.byref(lm)) != 0:
            return "unknown"
        node = lm.contents.l_next  # skip the executable
        while node:
            name = node.contents.l_name
            if name:
                h = libc.dlopen(name, RTLD_LAZY | RTLD_NOLOAD)
                if h:
                    sym = libc.dlsym(h, b"malloc")
                    info = DlInfo()
                    ok = sym and libc.dladdr(sym, ctypes.byref(info)) and info.dli_fname == name
                    libc.dlclose(h)
                    if ok:
                        return name.decode()
            node = node.contents.l_next
    except Exception:  # pragma: no cover - diagnostics only
        pass
    return "unknown"


def status_kb(key):
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return -1


class Rng:
    """xorshift64*: deterministic and independent of Python's random module."""

    def __init__(self, seed):
        self.s = (seed * 0x9E3779B97F4A7C15 + 1) & 0xFFFFFFFFFFFFFFFF

    def next(self):
        s = self.s
        s ^= (s >> 12)
        s ^= (s << 25) & 0xFFFFFFFFFFFFFFFF
        s ^= (s >> 27)
        self.s = s
        return (s * 0x2545F4914F6CDD1D) & 0xFFFFFFFFFFFFFFFF

    def below(self, n):
        return self.next() % n


WORDS = ("alpha bravo charlie delta echo foxtrot golf hotel india juliet kilo lima mike "
         "november oscar papa quebec romeo sierra tango uniform victor whiskey xray yankee "
         "zulu").split()
CITIES = ["Lisbon", "Oslo", "Kyoto", "Quito", "Accra", "Perth", "Lima", "Hanoi", "Dakar"]


def make_text(rng, n):
    lines = []
    for i in range(n):
        words = " ".join(WORDS[rng.below(len(WORDS))] for _ in range(1 + rng.below(12)))
        lines.append(f"{i},{CITIES[rng.below(len(CITIES))]},{rng.below(100000)},"
                     f"{rng.below(50)},{words}")
    return "\n".join(lines)


def one_round(rng, nrec):
    crc = 0
    text = make_text(rng, nrec)
    # Parse into dict records.
    records = []
    for line in text.split("\n"):
        rid, city, amount, qty, words = line.split(",", 4)
        records.append({"id": int(rid), "city": city, "amount": int(amount),
                        "qty": int(qty), "words": words.split(" "),
                        "tag": f"{city[:3].upper()}-{int(rid) % 97:02d}"})
    del text
    # Group by city, sort each group.
    groups = {}
    for r in records:
        groups.setdefault(r["city"], []).append(r)
    for city in sorted(groups):
        g = sorted(groups[city], key=lambda r: (-r["amount"], r["id"]))
        top = ";".join(f"{r['id']}:{r['amount']}" for r in g[:25])
        crc = zlib.crc32(f"{city}|{len(g)}|{sum(r['qty'] for r in g)}|{top}".encode(), crc)
    # Inverted index word -> list of ids, then drop half of it.
    index = {}
    for r in records:
        for w in r["words"]:
            index.setdefault(w, []).append(r["id"])
    for w in sorted(index):
        ids = index[w]
        crc = zlib.crc32(f"{w}:{len(ids)}:{sum(ids) % 1000003}".encode(), crc)
    for w in list(index)[::2]:
        del index[w]
    # Rolling cache: dict of tuples with eviction of the oldest entries.
    cache = {}
    for r in records:
        key = (r["tag"], r["qty"])
        cache[key] = (r["id"], r["amount"], tuple(r["words"][:3]))
        if len(cache) > 2000:
            for k in list(cache)[:500]:
                del cache[k]
    crc = zlib.crc32(repr(sorted(cache.items())[:200]).encode(), crc)
    # A report built from many small strings.
    report = []
    for r in records[::3]:
        report.append(f"{r['id']:>8} {r['city']:<10} {r['amount']:>8} "
                      f"{' '.join(w.capitalize() for w in r['words'])}")
    blob = "\n".join(report)
    crc = zlib.crc32(blob.encode(), crc)
    # Lists of lists, a matrix transpose and a set of strings (sorted before use).
    matrix = [[r["amount"] % (j + 7) for j in range(16)] for r in records[:5000]]
    cols = [list(c) for c in zip(*matrix)]
    crc = zlib.crc32(repr([sum(c) for c in cols]).encode(), crc)
    uniq = sorted({w + str(r["qty"]) for r in records for w in r["words"][:2]})
    crc = zlib.crc32(repr(uniq[:500]).encode(), crc)
    return crc, len(records)


def main(argv):
    preset = "full"
    args = argv[1:]
    if args and "=" not in args[0]:
        preset = args.pop(0)
        if preset not in PRESETS:
            print(f"py_alloc: unknown preset {preset!r}", file=sys.stderr)
            return 2
    params = dict(PRESETS[preset])
    for a in args:
        k, _, v = a.partition("=")
        if k not in params:
            print(f"py_alloc: unknown argument {a!r}", file=sys.stderr)
            return 2
        params[k] = int(v)
    print(f"workload=python preset={preset} rounds={params['rounds']} "
          f"records={params['records']}", flush=True)
    rng = Rng(29)
    crc_all = 0
    nrec = 0
    t0 = time.perf_counter()
    for _ in range(params["rounds"]):
        crc, n = one_round(rng, params["records"])
        crc_all = zlib.crc32(crc.to_bytes(4, "little"), crc_all)
        nrec += n
    t1 = time.perf_counter()
    print(f"records={nrec}")
    print(f"checksum={crc_all:016x}")
    print(f"malloc_lib={malloc_lib()} work_s={t1 - t0:.4f} vmhwm_kb={status_kb('VmHWM')} "
          f"vmrss_kb={status_kb('VmRSS')}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
