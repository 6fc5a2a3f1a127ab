//go:build ignore

// binary_trees: the Go variant of bench/gc/binary_trees.c (Benchmarks Game
// "binary-trees", single goroutine, one allocation per node, default GC
// settings). Build: GO111MODULE=off go build -o binary_trees_go binary_trees.go gcb_common.go gcb_mixed.go
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

// Pause harvesting and the RESULT line: gcb_common.go.

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
