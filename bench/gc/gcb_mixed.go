//go:build ignore

// gcb_mixed.go: the Go side of gcb_mixed.h, the mixed-size tree node that
// gcbench and gc_threads build (every Go benchmark is built with it). Go has
// no variable-size objects, so a node of 32..512 bytes is the MNode header
// embedded first in a padded type; nodes over 32 bytes end with a check
// word, tag * golden; payload bytes all equal the tag's low byte.
package main

import "unsafe"

const golden = 0x9E3779B97F4A7C15

type MNode struct {
	left, right *MNode
	payload     *byte // noscan, plen bytes of tag & 0xff; or nil
	plen        uint32
	tag         uint32
}

type mn48 struct {
	MNode
	pad [2]uint64
}
type mn64 struct {
	MNode
	pad [4]uint64
}
type mn96 struct {
	MNode
	pad [8]uint64
}
type mn128 struct {
	MNode
	pad [12]uint64
}
type mn256 struct {
	MNode
	pad [28]uint64
}
type mn512 struct {
	MNode
	pad [60]uint64
}

func allocMNode(sz uintptr) *MNode {
	switch sz {
	case 32:
		return &MNode{}
	case 48:
		return &(&mn48{}).MNode
	case 64:
		return &(&mn64{}).MNode
	case 96:
		return &(&mn96{}).MNode
	case 128:
		return &(&mn128{}).MNode
	case 256:
		return &(&mn256{}).MNode
	default:
		return &(&mn512{}).MNode
	}
}

func checkWordOf(n *MNode, sz uintptr) *uint64 {
	return (*uint64)(unsafe.Add(unsafe.Pointer(n), sz-8))
}

// mnodeNew makes a node of sz bytes from the random draw x, as mnode_new.
func mnodeNew(sz uintptr, x uint64, l, r *MNode) *MNode {
	tag := uint32(x >> 32)
	n := allocMNode(sz)
	n.left = l
	n.right = r
	n.tag = tag
	if sz > 32 {
		*checkWordOf(n, sz) = uint64(tag) * golden
	}
	if x&3 == 0 {
		plen := uint32(16) << ((x >> 2) % 6)
		p := make([]byte, plen)
		b := byte(tag & 0xff)
		for i := range p {
			p[i] = b
		}
		n.payload = &p[0]
		n.plen = plen
	}
	return n
}

// mnodeIntact reports whether n's check word and payload bytes are intact.
func mnodeIntact(n *MNode, sz uintptr) bool {
	if sz > 32 && *checkWordOf(n, sz) != uint64(n.tag)*golden {
		return false
	}
	if n.plen == 0 {
		return true
	}
	p := unsafe.Slice(n.payload, n.plen)
	return p[0] == byte(n.tag&0xff) && p[n.plen-1] == byte(n.tag&0xff)
}
