//go:build ignore

// gc_threads: the Go variant of bench/gc/gc_threads.c (read that file's
// header for the workload): T goroutines (default GOMAXPROCS), same jobs,
// same pseudo-random sequences, same output.
// Build: GO111MODULE=off go build -o gc_threads_go gc_threads.go gcb_common.go gcb_mixed.go
//
//	gc_threads_go [N] [T]     2^N jobs (default 18) on T goroutines (default 8)
package main

import (
	"fmt"
	"os"
	"strconv"
	"sync"
	"time"
)

func rng(state *uint64) uint64 {
	*state += 0x9E3779B97F4A7C15
	z := *state
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func fail(what string, thread int, got, want uint64) {
	fmt.Fprintf(os.Stderr, "gc_threads: CHECK FAILED: %s (thread %d): got %d, want %d\n", what, thread, got, want)
	os.Exit(1)
}

// Tree node sizes (nodes: MNode, gcb_mixed.go), as in gc_threads.c.
var nsizes = [8]uintptr{32, 32, 48, 64, 96, 128, 256, 512}

type Cell struct {
	next *Cell
	val  uint64
}

type Result struct {
	tree       *MNode
	list       *Cell
	sum        uint64 // checkResult's value when it was built
	owner, job uint32
}

type Worker struct {
	index               int
	rng                 uint64
	jobs                uint64
	nodes, cells, bytes uint64
	published, checksum uint64
}

var (
	tableMu    sync.Mutex
	table      []*Result
	tableSlots uint64
	pollMu     sync.Mutex
)

func makeTree(w *Worker, depth int) *MNode {
	var l, r *MNode
	if depth > 0 {
		l = makeTree(w, depth-1)
		r = makeTree(w, depth-1)
	}
	x := rng(&w.rng)
	return mnodeNew(nsizes[uint32(x>>32)%8], x, l, r)
}

func makeList(w *Worker, n uint32) *Cell {
	var head *Cell
	for i := uint32(0); i < n; i++ {
		head = &Cell{next: head, val: rng(&w.rng)}
	}
	return head
}

type rcheck struct{ nodes, cells, bytes, sum uint64 }

func walkTree(n *MNode, c *rcheck, thread int) {
	for n != nil {
		sz := nsizes[n.tag%8]
		c.nodes++
		c.bytes += uint64(sz) + uint64(n.plen)
		c.sum = c.sum*31 + uint64(n.tag) + uint64(n.plen)
		if !mnodeIntact(n, sz) {
			fail("tree node check word or payload", thread, uint64(n.tag), 0)
		}
		walkTree(n.left, c, thread)
		n = n.right
	}
}

func checkResult(r *Result, thread int) rcheck {
	var c rcheck
	walkTree(r.tree, &c, thread)
	for p := r.list; p != nil; p = p.next {
		c.cells++
		c.bytes += 16
		c.sum ^= p.val + c.cells
	}
	return c
}

func checkPublished(r *Result, thread int) {
	if c := checkResult(r, thread); c.sum != r.sum {
		fail("published result (by thread, job)", thread, uint64(r.owner), uint64(r.job))
	}
}

func runJob(w *Worker, job uint32) {
	x := rng(&w.rng)
	depth := 2 + int(x%8)
	n := uint32(8) << ((x >> 3) % 6)
	r := &Result{owner: uint32(w.index), job: job}
	r.tree = makeTree(w, depth)
	r.list = makeList(w, n)
	c := checkResult(r, w.index)
	r.sum = c.sum
	w.nodes += c.nodes
	w.cells += c.cells
	w.bytes += c.bytes
	w.checksum += c.sum
	if depth > 5 || (x>>8)&3 != 0 {
		return
	}
	slot := (x >> 16) % tableSlots
	tableMu.Lock()
	old := table[slot]
	table[slot] = r
	tableMu.Unlock()
	w.published++
	if old != nil {
		checkPublished(old, w.index)
	}
}

func workerMain(w *Worker, wg *sync.WaitGroup) {
	defer wg.Done()
	for j := uint64(0); j < w.jobs; j++ {
		runJob(w, uint32(j))
		if j%64 == 63 && pollMu.TryLock() {
			poll()
			pollMu.Unlock()
		}
	}
}

func main() {
	n, nthreads := 18, 8
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	if len(os.Args) > 2 {
		if v, err := strconv.Atoi(os.Args[2]); err == nil {
			nthreads = v
		}
	}
	if n < 8 {
		n = 8
	}
	if n > 26 {
		n = 26
	}
	if nthreads < 1 {
		nthreads = 1
	}
	if nthreads > 256 {
		nthreads = 256
	}
	jobs := uint64(1) << uint(n)
	tableSlots = uint64(1) << uint(n-5)

	pauseInit()
	t0 := time.Now()
	fmt.Printf("gc_threads N=%d: %d jobs on %d threads, table of %d slots\n", n, jobs, nthreads, tableSlots)

	table = make([]*Result, tableSlots)
	workers := make([]Worker, nthreads)
	var wg sync.WaitGroup
	for i := range workers {
		w := &workers[i]
		w.index = i
		w.rng = 0x243F6A8885A308D3 ^ (uint64(i+1) * 0xD1B54A32D192ED03)
		w.jobs = jobs / uint64(nthreads)
		if uint64(i) < jobs%uint64(nthreads) {
			w.jobs++
		}
		wg.Add(1)
		go workerMain(w, &wg)
	}
	wg.Wait()
	var t Worker
	for i := range workers {
		w := &workers[i]
		fmt.Printf("thread %d\t jobs %d\t nodes %d\t cells %d\t bytes %d\t published %d\t checksum %016x\n",
			i, w.jobs, w.nodes, w.cells, w.bytes, w.published, w.checksum)
		t.nodes += w.nodes
		t.cells += w.cells
		t.bytes += w.bytes
		t.published += w.published
		t.checksum += w.checksum
	}
	fmt.Printf("total\t jobs %d\t nodes %d\t cells %d\t bytes %d\t published %d\t checksum %016x\n",
		jobs, t.nodes, t.cells, t.bytes, t.published, t.checksum)

	filled := uint64(0)
	for _, r := range table {
		if r != nil {
			checkPublished(r, -1)
			filled++
		}
	}
	fmt.Printf("table: %d of %d slots filled\n", filled, tableSlots)

	report("gc_threads", n, time.Since(t0).Seconds())
}
