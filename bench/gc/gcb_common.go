//go:build ignore

// gcb_common.go: what the Go variants of the GC benchmarks share, the Go
// side of gcb_common.h: pause harvesting and the RESULT line. Built together
// with each benchmark: go build -o gcbench_go gcbench.go gcb_common.go gcb_mixed.go
//
// Pauses are read from runtime.MemStats.PauseNs (a ring of the last 256
// cycles, one entry per cycle = both stop-the-world phases); a program calls
// poll() often enough that no more than 256 cycles pass between two calls
// (pauses_lost counts those that did). poll is not safe for concurrent use:
// a multi-goroutine program serialises its calls.
package main

import (
	"fmt"
	"runtime"
	"sort"
)

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
