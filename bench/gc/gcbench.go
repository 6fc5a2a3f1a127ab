//go:build ignore

// gcbench: the Go variant of bench/gc/gcbench.c (read that file's header for
// the workload). Same phases, same pseudo-random sequence, same output.
// Build: GO111MODULE=off go build -o gcbench_go gcbench.go gcb_common.go gcb_mixed.go
//
//	gcbench_go [N]     N = depth parameter (default 20)
package main

import (
	"fmt"
	"os"
	"runtime"
	"strconv"
	"time"
)

// ---- deterministic generator (splitmix64), same as the C one ----
var rngState uint64 = 0x243F6A8885A308D3

func rng() uint64 {
	rngState += 0x9E3779B97F4A7C15
	z := rngState
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func fail(what string, depth int, got, want int64) {
	fmt.Fprintf(os.Stderr, "gcbench: CHECK FAILED: %s (depth %d): got %d, want %d\n", what, depth, got, want)
	os.Exit(1)
}

func treeSize(d int) int64  { return (int64(1) << uint(d+1)) - 1 }
func heightSum(d int) int64 { return (int64(1) << uint(d+1)) - int64(d) - 2 }

// ---- uniform trees of 24-byte nodes ----
type TNode struct {
	left, right *TNode
	i, j        int32
}

func populate(depth int, n *TNode, j int32) {
	if depth <= 0 {
		return
	}
	n.left = &TNode{i: int32(depth - 1), j: j}
	n.right = &TNode{i: int32(depth - 1), j: j}
	populate(depth-1, n.left, j)
	populate(depth-1, n.right, j)
}

func topDown(depth int, j int32) *TNode {
	n := &TNode{i: int32(depth), j: j}
	populate(depth, n, j)
	return n
}

func bottomUp(depth int) *TNode {
	if depth <= 0 {
		return &TNode{}
	}
	l := bottomUp(depth - 1)
	r := bottomUp(depth - 1)
	return &TNode{left: l, right: r, i: int32(depth)}
}

type tcheck struct{ nodes, isum, jsum int64 }

func walk(n *TNode, c *tcheck) {
	for n != nil {
		c.nodes++
		c.isum += int64(n.i)
		c.jsum += int64(n.j)
		if (n.left == nil) != (n.right == nil) || (n.left != nil && n.left.i != n.i-1) {
			fail("tree shape", int(n.i), 0, 1)
		}
		walk(n.left, c)
		n = n.right
	}
}

// ---- mixed trees: 32..256-byte nodes, some with a pointer-free payload (gcb_mixed.go) ----
var msizes = [6]uintptr{32, 48, 64, 96, 128, 256}

func makeMixed(depth int) *MNode {
	var l, r *MNode
	if depth > 0 {
		l = makeMixed(depth - 1)
		r = makeMixed(depth - 1)
	}
	x := rng()
	return mnodeNew(msizes[uint32(x>>32)%6], x, l, r)
}

type mcheck struct {
	nodes, bytes int64
	tags         uint64
}

func walkMixed(n *MNode, c *mcheck) {
	for n != nil {
		c.nodes++
		c.tags += uint64(n.tag)
		c.bytes += int64(n.plen)
		if !mnodeIntact(n, msizes[n.tag%6]) {
			fail("mixed node check word or payload", -1, 0, 1)
		}
		walkMixed(n.left, c)
		n = n.right
	}
}

func churn(root *TNode, n, s int, count int64, round int32) {
	for k := int64(0); k < count; k++ {
		p := root
		for lvl := n; lvl > s+1; lvl-- {
			if rng()&1 != 0 {
				p = p.right
			} else {
				p = p.left
			}
		}
		if rng()&1 != 0 {
			p.right = topDown(s, round)
		} else {
			p.left = topDown(s, round)
		}
	}
}

// Pause harvesting and the RESULT line: gcb_common.go.

func itersPerPoll(iters int64) int64 {
	if iters/32 > 0 {
		return iters / 32
	}
	return 1
}

func main() {
	n := 20
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	if n < 6 {
		n = 6
	}
	if n > 26 {
		n = 26
	}
	stretchDepth, longDepth, minDepth := n+1, n, 4
	arrayLen := int64(1) << uint(n+2)
	churnDepth := n / 2
	churnCount := (int64(1) << uint(n-churnDepth)) / 8
	if churnCount < 1 {
		churnCount = 1
	}

	pauseInit()
	t0 := time.Now()
	fmt.Printf("gcbench N=%d: stretch depth %d, long-lived depth %d + %d doubles, trees %d..%d\n", n,
		stretchDepth, longDepth, arrayLen, minDepth, n)

	{
		t := bottomUp(stretchDepth)
		var c tcheck
		walk(t, &c)
		if c.nodes != treeSize(stretchDepth) {
			fail("stretch", stretchDepth, c.nodes, treeSize(stretchDepth))
		}
		fmt.Printf("stretch tree of depth %d\t check: %d\n", stretchDepth, c.nodes)
	}

	longLived := topDown(longDepth, 0)
	array := make([]float64, arrayLen)
	for i := int64(0); i < arrayLen/2; i++ {
		array[i] = 1.0 / float64(i+1)
	}
	fmt.Printf("long lived tree of depth %d and array of %d doubles\n", longDepth, arrayLen)

	for d := minDepth; d <= n; d += 2 {
		iters := 2 * treeSize(n) / treeSize(d)
		stride := itersPerPoll(iters)
		var c tcheck
		for i := int64(0); i < iters; i++ {
			walk(topDown(d, 0), &c)
			if i%stride == 0 {
				poll()
			}
		}
		if c.nodes != iters*treeSize(d) || c.isum != iters*heightSum(d) {
			fail("top-down", d, c.nodes, iters*treeSize(d))
		}
		fmt.Printf("depth %d\t top-down %d trees\t check: %d\n", d, iters, c.nodes)

		c = tcheck{}
		for i := int64(0); i < iters; i++ {
			walk(bottomUp(d), &c)
			if i%stride == 0 {
				poll()
			}
		}
		if c.nodes != iters*treeSize(d) || c.isum != iters*heightSum(d) {
			fail("bottom-up", d, c.nodes, iters*treeSize(d))
		}
		fmt.Printf("depth %d\t bottom-up %d trees\t check: %d\n", d, iters, c.nodes)

		if d <= n-4 {
			miters := treeSize(n) / treeSize(d)
			stride = itersPerPoll(miters)
			var m mcheck
			for i := int64(0); i < miters; i++ {
				walkMixed(makeMixed(d), &m)
				if i%stride == 0 {
					poll()
				}
			}
			if m.nodes != miters*treeSize(d) {
				fail("mixed", d, m.nodes, miters*treeSize(d))
			}
			fmt.Printf("depth %d\t mixed %d trees\t check: %d\t payload bytes: %d\t tags: %016x\n",
				d, miters, m.nodes, m.bytes, m.tags)
		}

		churn(longLived, longDepth, churnDepth, churnCount, int32(d))
		poll()
		fmt.Printf("depth %d\t churn %d subtrees of depth %d\n", d, churnCount, churnDepth)
	}

	var c tcheck
	walk(longLived, &c)
	if c.nodes != treeSize(longDepth) || c.isum != heightSum(longDepth) {
		fail("long-lived tree", longDepth, c.nodes, treeSize(longDepth))
	}
	fmt.Printf("long lived tree of depth %d\t check: %d\t rounds: %d\n", longDepth, c.nodes, c.jsum)
	s := 0.0
	for i := int64(0); i < arrayLen; i++ {
		s += array[i]
	}
	fmt.Printf("long lived array\t check: %.9f\n", s)
	runtime.KeepAlive(array)

	report("gcbench", n, time.Since(t0).Seconds())
}
