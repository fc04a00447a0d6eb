package main

// The wire-protocol proxy that gives FerretDB 1.24 MongoDB's single-document
// atomicity.
//
// FerretDB 1.24 applies update, findAndModify and delete as "query the matching
// documents, change them in Go, write them back" in separate steps
// (internal/handler/msg_update.go), so two concurrent conditional updates can both
// win and concurrent $inc/$push lose writes. The proxy sits on the public address,
// reads each request, and runs every read-modify-write command alone on its
// collection: an RWMutex per "$db.collection", taken exclusively, or shared plus a
// per-document stripe lock when every statement's filter names its document by
// {_id: value} (conditional transitions, {_id: x, state: "open"}, included).
// The lock is held from forwarding the request until its reply has been read, so
// the read and the write-back of one command cannot interleave with another's.
// A multi-statement update is sent as one command per statement under that same
// lock, its replies merged into one (split.go): FerretDB 1.24 holds a PostgreSQL
// connection per statement until an update ends, and hung past its pool's size.
//
// A find by {_id: {$in: [...]}} is answered by one find per value (findin.go):
// FerretDB 1.24 scans the whole collection for an $in, but uses the _id index for
// an equality.
//
// Inserts, reads and every other command pass through unlocked: an insert is one
// PostgreSQL statement, and unique indexes are PostgreSQL's own. OP_QUERY (only
// the drivers' first hello) and OP_COMPRESSED pass through unparsed: FerretDB
// announces no compressors in its hello, so drivers never compress commands.

import (
	"encoding/binary"
	"errors"
	"fmt"
	"hash/crc32"
	"hash/maphash"
	"io"
	"log"
	"math"
	"net"
	"sort"
	"strconv"
	"sync"

	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/x/mongo/driver/wiremessage"
)

// maxMessage is MongoDB's maxMessageSizeBytes.
const maxMessage = 48 * 1000 * 1000

// stripes bounds the per-document locks: documents whose keys hash alike share
// one, which only costs concurrency, never correctness.
const stripes = 4096

// locks holds the per-collection and per-document locks of one server.
type locks struct {
	mu          sync.Mutex
	collections map[string]*sync.RWMutex
	docs        [stripes]sync.Mutex
	seed        maphash.Seed
}

func newLocks() *locks {
	return &locks{collections: map[string]*sync.RWMutex{}, seed: maphash.MakeSeed()}
}

func (l *locks) collection(ns string) *sync.RWMutex {
	l.mu.Lock()
	defer l.mu.Unlock()
	found := l.collections[ns]
	if found == nil {
		found = &sync.RWMutex{}
		l.collections[ns] = found
	}
	return found
}

// plan says which locks a request needs: none (ns empty), the collection
// exclusively (ids nil), or the collection shared plus the documents' stripes.
type plan struct {
	ns  string
	ids [][]byte // raw BSON values of the _id of each statement
}

// acquire takes the plan's locks and returns the function that releases them.
// Stripes are taken in ascending order, always after the collection lock, so two
// requests cannot wait for each other.
func (l *locks) acquire(p plan) func() {
	coll := l.collection(p.ns)
	if p.ids == nil {
		coll.Lock()
		return coll.Unlock
	}
	coll.RLock()
	taken := map[uint64]bool{}
	order := make([]int, 0, len(p.ids))
	for _, id := range p.ids {
		var h maphash.Hash
		h.SetSeed(l.seed)
		h.WriteString(p.ns)
		h.WriteByte(0)
		h.Write(id)
		n := h.Sum64() % stripes
		if !taken[n] {
			taken[n] = true
			order = append(order, int(n))
		}
	}
	sort.Ints(order)
	for _, n := range order {
		l.docs[n].Lock()
	}
	return func() {
		for i := len(order) - 1; i >= 0; i-- {
			l.docs[order[i]].Unlock()
		}
		coll.RUnlock()
	}
}

// statements names, for each locked command, its document sequence and the
// field of each statement that holds the filter.
var statements = map[string]struct{ seq, filter string }{
	"update":        {"updates", "q"},
	"delete":        {"deletes", "q"},
	"findAndModify": {"", "query"},
	"findandmodify": {"", "query"},
}

// planFor says what a parsed OP_MSG request must lock.
func planFor(r request) plan {
	cmd := r.cmd
	first, err := cmd.IndexErr(0)
	if err != nil {
		return plan{} // empty command: FerretDB will answer with the error
	}
	shape, locked := statements[first.Key()]
	if !locked {
		return plan{}
	}
	coll, ok := first.Value().StringValueOK()
	if !ok {
		return plan{}
	}
	db, _ := cmd.Lookup("$db").StringValueOK()
	p := plan{ns: db + "." + coll}

	var filters []bsoncore.Value
	if shape.seq == "" { // findAndModify: one statement, in the command itself
		filters = append(filters, cmd.Lookup(shape.filter))
	} else {
		docs := r.statements(shape.seq)
		for _, d := range docs {
			filters = append(filters, d.Lookup(shape.filter))
		}
	}
	for _, f := range filters {
		id, ok := idOnly(f)
		if !ok {
			return plan{ns: p.ns} // some statement may touch any document
		}
		p.ids = append(p.ids, id)
	}
	if len(p.ids) == 0 {
		p.ids = nil
	}
	return p
}

// idOnly returns the raw _id when the filter names one document by a top-level
// equality on _id (a value, not an operator document, array or regex), whatever else
// it asks: such a statement reads and writes that document only, so locking it is
// enough. Other conditions ({_id: x, state: "open"}) are checked under that lock.
func idOnly(filter bsoncore.Value) ([]byte, bool) {
	doc, ok := filter.DocumentOK()
	if !ok {
		return nil, false
	}
	v, err := doc.LookupErr("_id")
	if err != nil {
		return nil, false
	}
	switch v.Type {
	case bsontype.Array, bsontype.Regex, bsontype.JavaScript, bsontype.CodeWithScope,
		bsontype.Decimal128:
		return nil, false
	case bsontype.EmbeddedDocument:
		sub, _ := v.DocumentOK()
		if k, err := sub.IndexErr(0); err == nil && len(k.Key()) > 0 && k.Key()[0] == '$' {
			return nil, false
		}
	}
	return idKey(v)
}

// idKey returns the key of an _id value: its type and bytes, except that numbers
// equal to MongoDB (5, 5L and 5.0 are one _id) share one key. Whole numbers are
// written as integers, exactly: 2^53+1 (int64) and 2^53 (double) stay two keys.
func idKey(v bsoncore.Value) ([]byte, bool) {
	switch v.Type {
	case bsontype.Int32:
		return []byte(strconv.FormatInt(int64(v.Int32()), 10)), true
	case bsontype.Int64:
		return []byte(strconv.FormatInt(v.Int64(), 10)), true
	case bsontype.Double:
		f := v.Double()
		if f == math.Trunc(f) && f >= -(1<<63) && f < 1<<63 {
			return []byte(strconv.FormatInt(int64(f), 10)), true
		}
		return []byte(strconv.FormatFloat(f, 'g', -1, 64)), true
	}
	return append([]byte{byte(v.Type)}, v.Data...), true
}

// readMessage reads one whole wire message.
func readMessage(r io.Reader) ([]byte, error) {
	var head [16]byte
	if _, err := io.ReadFull(r, head[:]); err != nil {
		return nil, err
	}
	size := int32(binary.LittleEndian.Uint32(head[:4]))
	if size < 16 || size > maxMessage {
		return nil, fmt.Errorf("message of %d bytes", size)
	}
	msg := make([]byte, size)
	copy(msg, head[:])
	if _, err := io.ReadFull(r, msg[16:]); err != nil {
		return nil, err
	}
	return msg, nil
}

// proxy accepts clients on ln and relays each to a new connection to the backend.
func proxy(ln net.Listener, dial func() (net.Conn, error), l *locks) {
	for {
		client, err := ln.Accept()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			log.Printf("proxy: accept: %v", err)
			continue
		}
		go func() {
			defer client.Close()
			backend, err := dial()
			if err != nil {
				log.Printf("proxy: cannot reach FerretDB: %v", err)
				return
			}
			defer backend.Close()
			if err := relay(client, backend, l); err != nil && !errors.Is(err, io.EOF) &&
				!errors.Is(err, net.ErrClosed) {
				log.Printf("proxy: connection from %s: %v", client.RemoteAddr(), err)
			}
		}()
	}
}

// relay serves one client connection: request, then every reply to it. A MongoDB
// connection carries one request at a time; the exceptions are requests flagged
// moreToCome (no reply) and exhaust replies flagged moreToCome (more replies follow).
func relay(client, backend net.Conn, l *locks) error {
	for {
		req, err := readMessage(client)
		if err != nil {
			return err
		}
		release := func() {}
		var parts, finds []bsoncore.Document
		var ordered, rewritten bool
		var r request
		var ns string
		if wiremessage.OpCode(binary.LittleEndian.Uint32(req[12:16])) == wiremessage.OpMsg {
			r, err = parseMsg(req[16:])
			if err != nil {
				return err
			}
			if p := planFor(r); p.ns != "" {
				release = l.acquire(p) // held for every part of a split command
			}
			parts, ordered = splitUpdate(r)
			finds, ns, rewritten = findIn(r) // a read: no lock (findin.go)
		}
		switch {
		case parts != nil:
			err = exchangeSplit(client, backend, req, parts, ordered)
		case rewritten:
			err = exchangeFindIn(client, backend, req, r.cmd, finds, ns)
		default:
			err = exchange(client, backend, req)
		}
		release()
		if err != nil {
			return err
		}
	}
}

// exchangeSplit sends the parts of a split update one after the other and answers
// the client once, with their replies merged (see split.go). For a request flagged
// moreToCome (w:0) the parts are acknowledged all the same (see exchange) and the
// client gets no answer.
func exchangeSplit(client, backend net.Conn, req []byte, parts []bsoncore.Document,
	ordered bool) error {
	reqID := int32(binary.LittleEndian.Uint32(req[4:8]))
	silent := wiremessage.IsMsgMoreToCome(req)
	var out merged
	for i, part := range parts {
		if _, err := backend.Write(encodeMsg(reqID, 0, 0, part)); err != nil {
			return err
		}
		msg, err := readMessage(backend)
		if err != nil {
			return err
		}
		reply, err := replyDocument(msg)
		if err != nil {
			return err
		}
		if out.add(int32(i), reply) && ordered {
			break
		}
	}
	if silent {
		return nil
	}
	_, err := client.Write(encodeMsg(wiremessage.NextRequestID(), reqID, 0, out.reply()))
	return err
}

// exchange forwards one request and the replies it causes.
//
// FerretDB 1.24 answers every OP_MSG, moreToCome (w:0) included, so a reply it sent
// to an unacknowledged write would reach the client as the answer to its next
// request. The proxy sends such a request without the flag, reads the reply and
// drops it: the client still gets nothing, and the write is done, under its locks,
// before the next request on that connection.
func exchange(client, backend net.Conn, req []byte) error {
	silent := wiremessage.IsMsgMoreToCome(req)
	if silent {
		req = acknowledged(req)
	}
	if _, err := backend.Write(req); err != nil {
		return err
	}
	for {
		reply, err := readMessage(backend)
		if err != nil {
			return err
		}
		if silent {
			return nil
		}
		if _, err := client.Write(reply); err != nil {
			return err
		}
		if !wiremessage.IsMsgMoreToCome(reply) {
			return nil
		}
	}
}

// castagnoli is the CRC-32C table of OP_MSG checksums.
var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// acknowledged returns a copy of an OP_MSG request without its moreToCome flag,
// with its checksum, if it has one, computed anew.
func acknowledged(req []byte) []byte {
	out := append([]byte(nil), req...)
	flags := wiremessage.MsgFlag(binary.LittleEndian.Uint32(out[16:20])) &^ wiremessage.MoreToCome
	binary.LittleEndian.PutUint32(out[16:20], uint32(flags))
	if flags&wiremessage.ChecksumPresent != 0 && len(out) >= 24 {
		end := len(out) - 4
		binary.LittleEndian.PutUint32(out[end:], crc32.Checksum(out[:end], castagnoli))
	}
	return out
}
