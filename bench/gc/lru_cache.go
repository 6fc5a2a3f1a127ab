//go:build ignore

// lru_cache: the Go variant of bench/gc/lru_cache.c (read that file's header
// for the workload). Same structures, same pseudo-random sequence, same
// output. Build: GO111MODULE=off go build -o lru_cache_go lru_cache.go gcb_common.go gcb_mixed.go
//
//	lru_cache_go [N]     capacity 2^N entries (default 20)
package main

import (
	"bytes"
	"fmt"
	"os"
	"strconv"
	"time"
	"unsafe"
)

// ---- deterministic generator (splitmix64), same as the C one ----
var rngState uint64 = 0x243F6A8885A308D3

func rng() uint64 {
	z := rngState
	rngState += 0x9E3779B97F4A7C15
	return mix(z)
}

// mix is splitmix64's output for state z: also a key id's own hash.
func mix(z uint64) uint64 {
	z += 0x9E3779B97F4A7C15
	z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9
	z = (z ^ (z >> 27)) * 0x94D049BB133111EB
	return z ^ (z >> 31)
}

func fail(what string, step, got, want uint64) {
	fmt.Fprintf(os.Stderr, "lru_cache: CHECK FAILED: %s (step %d): got %d, want %d\n", what, step, got, want)
	os.Exit(1)
}

const maxKey = 64
const stepsPerEntry = 8 // steps = stepsPerEntry * capacity

// Value is the 32-byte header of a value record of 32..256 bytes (the
// padded types below); records over 32 bytes end with a check word.
type Value struct {
	owner   *Entry
	blob    *byte // noscan, blen bytes of (version + keyid) & 0xff; or nil
	version uint64
	keyid   uint32
	size    uint16
	blen    uint16
}

type v48 struct {
	Value
	pad [2]uint64
}
type v64 struct {
	Value
	pad [4]uint64
}
type v256 struct {
	Value
	pad [28]uint64
}

type Entry struct {
	key        *byte // noscan, klen bytes
	val        *Value
	prev, next *Entry // LRU list: head is the most recently used
	hnext      *Entry // hash chain
	klen, hash uint32
}

var vsizes = [8]uint16{32, 32, 32, 32, 48, 48, 64, 256}

var (
	buckets    []*Entry
	bmask      uint32
	head, tail *Entry
	count      uint64
)

const hexDigits = "0123456789abcdef"

func keyFill(id uint32, buf []byte) uint32 {
	h := mix(uint64(id))
	n := 16 + uint32(h%49)
	for i := 0; i < 8; i++ {
		buf[i] = hexDigits[(id>>(28-4*uint(i)))&15]
	}
	for i := uint32(8); i < n; i++ {
		buf[i] = byte('a' + (((h>>((i&7)*8))&0xff)^uint64(i))%26)
	}
	return n
}

func keyHash(s []byte) uint32 {
	h := uint64(0xcbf29ce484222325)
	for _, c := range s {
		h = (h ^ uint64(c)) * 0x100000001b3
	}
	return uint32(h ^ (h >> 32))
}

func keyBytes(e *Entry) []byte { return unsafe.Slice(e.key, e.klen) }

func checkWordPtr(v *Value) *uint64 {
	return (*uint64)(unsafe.Add(unsafe.Pointer(v), uintptr(v.size)-8))
}

func checkWord(v *Value) uint64 { return v.version*golden ^ uint64(v.keyid) }

func newValue(owner *Entry, keyid uint32, version uint64) *Value {
	y := rng()
	size := vsizes[y&7]
	var v *Value
	switch size {
	case 32:
		v = &Value{}
	case 48:
		v = &(&v48{}).Value
	case 64:
		v = &(&v64{}).Value
	default:
		v = &(&v256{}).Value
	}
	v.owner = owner
	v.version = version
	v.keyid = keyid
	v.size = size
	if size > 32 {
		*checkWordPtr(v) = checkWord(v)
	}
	if (y>>3)&3 == 0 {
		blen := uint16(16) << ((y >> 5) % 3)
		b := make([]byte, blen)
		c := byte((version + uint64(keyid)) & 0xff)
		for i := range b {
			b[i] = c
		}
		v.blob = &b[0]
		v.blen = blen
	}
	return v
}

func checkValue(v *Value, e *Entry, keyid uint32, step uint64) {
	if v.owner != e {
		fail("value owner", step, 0, 1)
	}
	if v.keyid != keyid {
		fail("value key id", step, uint64(v.keyid), uint64(keyid))
	}
	if v.size > 32 && *checkWordPtr(v) != checkWord(v) {
		fail("value check word", step, *checkWordPtr(v), checkWord(v))
	}
	if v.blen != 0 {
		want := byte((v.version + uint64(keyid)) & 0xff)
		b := unsafe.Slice(v.blob, v.blen)
		if b[0] != want || b[v.blen-1] != want {
			fail("value blob", step, uint64(b[0]), uint64(want))
		}
	}
}

func lookup(key []byte, h uint32) *Entry {
	for e := buckets[h&bmask]; e != nil; e = e.hnext {
		if e.hash == h && e.klen == uint32(len(key)) && bytes.Equal(keyBytes(e), key) {
			return e
		}
	}
	return nil
}

func listUnlink(e *Entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		tail = e.prev
	}
}

func listPushFront(e *Entry) {
	e.prev = nil
	e.next = head
	if head != nil {
		head.prev = e
	} else {
		tail = e
	}
	head = e
}

func evictLRU(step uint64) {
	e := tail
	listUnlink(e)
	pp := &buckets[e.hash&bmask]
	for *pp != e {
		if *pp == nil {
			fail("evicted entry not in its chain", step, 0, 1)
		}
		pp = &(*pp).hnext
	}
	*pp = e.hnext
	count--
}

func insert(id uint32, key []byte, h uint32, step uint64) {
	e := &Entry{key: &key[0], klen: uint32(len(key)), hash: h}
	e.val = newValue(e, id, step)
	e.hnext = buckets[h&bmask]
	buckets[h&bmask] = e
	listPushFront(e)
	count++
}

func finalCheck(steps uint64) uint64 {
	var buf [maxKey]byte
	var n, sum uint64
	var prev *Entry
	for e := head; e != nil; prev, e = e, e.next {
		if e.prev != prev {
			fail("LRU back link", steps, n, 0)
		}
		v := e.val
		klen := keyFill(v.keyid, buf[:])
		if klen != e.klen || !bytes.Equal(buf[:klen], keyBytes(e)) || keyHash(buf[:klen]) != e.hash {
			fail("entry key", steps, uint64(v.keyid), uint64(klen))
		}
		checkValue(v, e, v.keyid, steps)
		sum = sum*31 + (v.version ^ (uint64(v.keyid) << 32)) + uint64(v.blen)
		n++
	}
	if n != count {
		fail("LRU length", steps, n, count)
	}
	var chained uint64
	for b := range buckets {
		for e := buckets[b]; e != nil; e = e.hnext {
			if uint64(e.hash&bmask) != uint64(b) {
				fail("entry in wrong bucket", steps, uint64(b), uint64(e.hash&bmask))
			}
			chained++
		}
	}
	if chained != count {
		fail("hash table size", steps, chained, count)
	}
	return sum
}

func main() {
	n := 20
	if len(os.Args) > 1 {
		if v, err := strconv.Atoi(os.Args[1]); err == nil {
			n = v
		}
	}
	if n < 8 {
		n = 8
	}
	if n > 24 {
		n = 24
	}
	capacity := uint64(1) << uint(n)
	steps := stepsPerEntry * capacity
	keyspace := 2 * capacity
	pollStride := steps / 256

	pauseInit()
	t0 := time.Now()
	fmt.Printf("lru_cache N=%d: capacity %d entries, %d steps, key space %d\n", n, capacity, steps, keyspace)

	buckets = make([]*Entry, capacity)
	bmask = uint32(capacity - 1)

	var hits, misses, evictions, replaced, sum uint64
	var buf [maxKey]byte
	for step := uint64(0); step < steps; step++ {
		x := rng()
		a := x >> 32
		id := uint32((((a * a) >> 32) * keyspace) >> 32)
		klen := keyFill(id, buf[:])
		key := make([]byte, klen)
		copy(key, buf[:klen])
		h := keyHash(key)
		if e := lookup(key, h); e != nil {
			hits++
			v := e.val
			checkValue(v, e, id, step)
			sum += v.version ^ uint64(id)
			if e != head {
				listUnlink(e)
				listPushFront(e)
			}
			if x&15 == 0 {
				e.val = newValue(e, id, step)
				replaced++
			}
		} else {
			misses++
			if count == capacity {
				evictLRU(step)
				evictions++
			}
			insert(id, key, h, step)
		}
		if (step+1)%(steps/8) == 0 {
			fmt.Printf("step %d\t hits %d\t misses %d\t evictions %d\t replaced %d\t checksum %016x\n",
				step+1, hits, misses, evictions, replaced, sum)
		}
		if step%pollStride == 0 {
			poll()
		}
	}
	fsum := finalCheck(steps)
	fmt.Printf("final: %d entries\t checksum %016x\n", count, fsum)

	report("lru_cache", n, time.Since(t0).Seconds())
}
