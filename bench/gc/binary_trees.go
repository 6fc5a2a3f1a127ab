//go:build ignore

// binary_trees: the Go variant of bench/gc/binary_trees.c (Benchmarks Game
// "binary-trees", single goroutine, one allocation per node, default GC
// settings). Build: GO111MODULE=off go build -o binary_trees_go binary_trees.go
//
//	binary_trees_go [N]     N = maximum depth (default 21)
//
// Prints the benchmarks-game output, then one RESULT line. Pauses are read
// from runtime.MemStats.PauseNs (a ring of the last 256 cycles, one entry per
// cycle = both stop-the-world phases), harvested ~32 times per depth.
package main

import (
	"fmt"
	"os"
	"runtime"
	"sort"
	"strconv"
	"time"
)

type Node struct {
	left, right *Node
}

func bottomUp(depth int) *Node {
	n := &Node{}
	if depth > 0 {
		n.left = bottomUp(depth - 1)
		n.right = bottomUp(depth - 1)
	}
	return n
}

func (n *Node) check() int64 {
	c := int64(1)
	for n.left != nil {
		c += 1 + n.left.check()
		n = n.right
	}
	return c
}

// ---- pause harvesting (same scheme as gcb_common.h) ----

var (
	ms        runtime.MemStats
	seenGC    uint32
	pauses    []uint64
	lost      uint64
	forcedGC0 uint32
)

func pauseInit() {
	pauses = make([]uint64, 0, 1<<16)
	runtime.ReadMemStats(&ms)
	seenGC = ms.NumGC
	forcedGC0 = ms.NumForcedGC
}

func poll() {
	runtime.ReadMemStats(&ms)
	for ; seenGC != ms.NumGC; seenGC++ {
		if ms.NumGC-seenGC > uint32(len(ms.PauseNs)) {
			lost++
		} else {
			pauses = append(pauses, ms.PauseNs[seenGC%uint32(len(ms.PauseNs))])
		}
	}
}

func pct(q float64) float64 {
	n := len(pauses)
	if n == 0 {
		return 0
	}
	rank := int(q*float64(n) + 0.999999999)
	if rank < 1 {
		rank = 1
	}
	if rank > n {
		rank = n
	}
	return float64(pauses[rank-1]) / 1e6
}

func report(bench string, depth int, secs float64) {
	poll()
	sort.Slice(pauses, func(i, j int) bool { return pauses[i] < pauses[j] })
	fmt.Printf("RESULT variant=go bench=%s depth=%d time_s=%.3f gc_cycles=%d pauses=%d pauses_lost=%d"+
		" pause_p50_ms=%.3f pause_p99_ms=%.3f pause_max_ms=%.3f pause_total_ms=%.3f"+
		" stall_p50_ms=%.3f stall_p99_ms=%.3f stall_max_ms=%.3f heap_mb=%.1f gc_cpu_pct=%.1f\n",
		bench, depth, secs, ms.NumGC-(ms.NumForcedGC-forcedGC0), len(pauses), lost,
		pct(0.50), pct(0.99), pct(1.0), float64(ms.PauseTotalNs)/1e6,
		// Stalls: Go's assists are not separated from the program's time,
		// so its stalls are its pauses (bench/gc/README.md).
		pct(0.50), pct(0.99), pct(1.0), float64(ms.HeapSys)/1048576.0, 100*ms.GCCPUFraction)
}

func main() {
	n := 21
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	const minDepth = 4
	maxDepth := n
	if maxDepth < minDepth+2 {
		maxDepth = minDepth + 2
	}

	pauseInit()
	t0 := time.Now()

	stretch := maxDepth + 1
	fmt.Printf("stretch tree of depth %d\t check: %d\n", stretch, bottomUp(stretch).check())

	longLived := bottomUp(maxDepth)

	for d := minDepth; d <= maxDepth; d += 2 {
		iters := 1 << uint(maxDepth-d+minDepth)
		stride := iters / 32
		if stride < 1 {
			stride = 1
		}
		sum := int64(0)
		for i := 0; i < iters; i++ {
			sum += bottomUp(d).check()
			if i%stride == 0 {
				poll()
			}
		}
		fmt.Printf("%d\t trees of depth %d\t check: %d\n", iters, d, sum)
	}

	fmt.Printf("long lived tree of depth %d\t check: %d\n", maxDepth, longLived.check())

	report("binary_trees", maxDepth, time.Since(t0).Seconds())
}
