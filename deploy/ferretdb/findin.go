package main

// find {_id: {$in: [...]}} as one index lookup per value.
//
// FerretDB 1.24 pushes down to PostgreSQL only top-level equalities ({f: v}, $eq,
// $ne: internal/backends/postgresql/query.go, prepareWhereClause); any other
// filter, $in included, is a full scan with every document decoded and matched in
// Go. The services read a Kafka poll's documents with one {_id: {$in: ids}} find,
// which MongoDB answers from the _id index, and under the pipeline benchmark that
// scan (`SELECT _jsonb FROM intake.petitions`, no WHERE) was PostgreSQL's biggest
// consumer of CPU. The proxy therefore answers such a find with one find per
// distinct value, the filter's _id replaced by that value and every other key kept
// ({_id: {$in: ids}, issue_id: x} -> {_id: v, issue_id: x}), which FerretDB pushes
// down and PostgreSQL answers from the _id index (its GIN companion, see
// deploy/postgres/tuning.sql), one after the other on the client's backend
// connection, and merges the replies into the one reply MongoDB gives:
// {cursor: {firstBatch: [...], id: 0, ns}, ok: 1}.
//
// Measured with bench_find.py (documents of ~600 bytes with string _ids, median of
// 15 finds, 29/11/2026 on the shared 2-core machine, load average 3-8):
//
//	documents  ids  forwarded (full scan)  rewritten (lookups)
//	   10,000   50        649 ms                 42 ms
//	   50,000   50      3,720 ms                 41 ms
//	   10,000 1000      1,298 ms                807 ms
//	   50,000 1000      7,602 ms                720 ms
//
// A lookup costs about 0.8 ms (FerretDB's handler and PostgreSQL's planning; the
// index read itself is 0.1 ms once the GIN companion has no pending list, see
// tuning.sql), a scan about 65 us per document in the collection: past maxFindIn
// values the lookups would lose against a collection of some thousands.
//
// Only the plain shape is rewritten (anything else is forwarded unchanged, so that
// FerretDB answers it as before): the command's fields are all in findFields (no
// sort, skip, hint, min/max, collation, transaction, tailable...), the limit is 0 or
// at least the number of distinct values (each matches one document at most, _id
// being unique), the operator document is exactly {$in: [...]}, of at most maxFindIn
// values, each a string, ObjectId, number, date or boolean (what FerretDB pushes
// down, and where equality and $in agree). batchSize is dropped from the parts (each
// finds one document at most, within FerretDB's default batch of 101) and the whole
// answer is one batch with cursor id 0: drivers, pymongo included, iterate a first
// batch whatever its length, and with id 0 send no getMore (pymongo's batch_size
// is covered by tests/integration/conformance/test_find_in.py).
//
// The values are deduplicated as MongoDB's _id index does (5, 5L and 5.0 are one
// _id: idKey), and the documents come in the order of the $in list: MongoDB
// promises no order without a sort, so this one is as good as any, and stable.
// An empty list matches nothing whatever the rest of the filter says: the proxy
// answers an empty batch without asking FerretDB, which would scan the collection
// to find that out (the one difference: a command that is invalid elsewhere, a bad
// projection say, gets that empty batch instead of its error). A part that fails (ok: 0), answers with an open cursor (which
// an _id equality cannot, but then the proxy closes it) or whose documents pass
// maxFindInBytes (a cursor would be needed) makes the proxy forward the original
// command instead, so that the client gets exactly FerretDB's own answer.
// Reads take no lock, rewritten or not.

import (
	"encoding/binary"
	"math"
	"net"

	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/x/mongo/driver/wiremessage"
)

// maxFindIn bounds the values of a rewritten $in: beyond, one scan costs less than
// the lookups (see the figures above).
const maxFindIn = 1000

// maxFindInBytes bounds the documents of a merged reply, under MongoDB's 16 MiB
// document limit: more needs a cursor, so the original command goes instead.
const maxFindInBytes = 15 * 1024 * 1024

// findFields are the fields a rewritten find may have, with the check of the value.
var findFields = map[string]func(bsoncore.Value) bool{
	"find":                 nil, // checked by findIn itself
	"filter":               nil,
	"limit":                nil,
	"$db":                  nil,
	"projection":           anything,
	"batchSize":            anything,
	"singleBatch":          anything,
	"comment":              anything,
	"maxTimeMS":            anything,
	"readConcern":          anything,
	"lsid":                 anything,
	"$clusterTime":         anything,
	"$readPreference":      anything,
	"apiVersion":           anything,
	"apiStrict":            anything,
	"apiDeprecationErrors": anything,
	"allowDiskUse":         anything,
	"sort":                 emptyDocument,
	"skip":                 zero,
	"tailable":             isFalse,
	"awaitData":            isFalse,
	"returnKey":            isFalse,
	"showRecordId":         isFalse,
	"noCursorTimeout":      isFalse,
	"allowPartialResults":  isFalse,
	"oplogReplay":          isFalse,
}

func anything(bsoncore.Value) bool { return true }

func emptyDocument(v bsoncore.Value) bool {
	d, ok := v.DocumentOK()
	if !ok {
		return false
	}
	_, err := d.IndexErr(0)
	return err != nil
}

func zero(v bsoncore.Value) bool {
	n, ok := integer(v)
	return ok && n == 0
}

func isFalse(v bsoncore.Value) bool {
	b, ok := v.BooleanOK()
	return ok && !b
}

// integer reads a whole number sent as int32, int64 or double.
func integer(v bsoncore.Value) (int64, bool) {
	if v.Type == bsontype.Double {
		f := v.Double()
		if f != math.Trunc(f) || math.Abs(f) > 1<<53 {
			return 0, false
		}
	}
	return v.AsInt64OK()
}

// findIn says whether r is a find by _id $in the proxy answers itself; if so, it
// returns one command per distinct value (none for an empty list) and the
// collection's namespace.
func findIn(r request) (parts []bsoncore.Document, ns string, ok bool) {
	if r.flags&^wiremessage.ChecksumPresent != 0 || len(r.seqs) > 0 {
		return nil, "", false // exhaustAllowed, moreToCome: forwarded as they are
	}
	first, err := r.cmd.IndexErr(0)
	if err != nil || first.Key() != "find" {
		return nil, "", false
	}
	coll, isString := first.Value().StringValueOK()
	db, dbString := r.cmd.Lookup("$db").StringValueOK()
	filter, isDoc := r.cmd.Lookup("filter").DocumentOK()
	if !isString || !dbString || !isDoc {
		return nil, "", false
	}
	values, ok := inValues(filter)
	if !ok {
		return nil, "", false
	}
	elems, err := r.cmd.Elements()
	if err != nil {
		return nil, "", false
	}
	for _, e := range elems {
		check, known := findFields[e.Key()]
		if !known || check != nil && !check(e.Value()) {
			return nil, "", false
		}
	}
	if v, err := r.cmd.LookupErr("limit"); err == nil {
		if n, ok := integer(v); !ok || n < 0 || n != 0 && n < int64(len(values)) {
			return nil, "", false
		}
	}
	for _, v := range values {
		parts = append(parts, findPart(elems, filter, v))
	}
	return parts, db + "." + coll, true
}

// inValues returns the distinct values of the filter's {_id: {$in: [...]}}, in the
// order of the list, when every one of them can be answered by an _id equality.
func inValues(filter bsoncore.Document) ([]bsoncore.Value, bool) {
	id, err := filter.LookupErr("_id")
	if err != nil {
		return nil, false
	}
	op, ok := id.DocumentOK()
	if !ok {
		return nil, false
	}
	ops, err := op.Elements()
	if err != nil || len(ops) != 1 || ops[0].Key() != "$in" {
		return nil, false
	}
	list, ok := ops[0].Value().ArrayOK()
	if !ok {
		return nil, false
	}
	all, err := list.Values()
	if err != nil || len(all) > maxFindIn {
		return nil, false
	}
	seen := map[string]bool{}
	var values []bsoncore.Value
	for _, v := range all {
		switch v.Type {
		case bsontype.String, bsontype.ObjectID, bsontype.Int32, bsontype.Int64,
			bsontype.DateTime, bsontype.Boolean:
		case bsontype.Double:
			if math.IsNaN(v.Double()) {
				return nil, false
			}
		default:
			return nil, false
		}
		key, _ := idKey(v)
		if !seen[string(key)] {
			seen[string(key)] = true
			values = append(values, v)
		}
	}
	return values, true
}

// findPart copies the find command (elems) with the filter's _id set to v, in its
// place, and without batchSize.
func findPart(elems []bsoncore.Element, filter bsoncore.Document, v bsoncore.Value) bsoncore.Document {
	fidx, f := bsoncore.AppendDocumentStart(nil)
	felems, _ := filter.Elements()
	for _, e := range felems {
		if e.Key() == "_id" {
			f = bsoncore.AppendValueElement(f, "_id", v)
		} else {
			f = append(f, e...)
		}
	}
	f, _ = bsoncore.AppendDocumentEnd(f, fidx)
	idx, doc := bsoncore.AppendDocumentStart(nil)
	for _, e := range elems {
		switch e.Key() {
		case "batchSize":
		case "filter":
			doc = bsoncore.AppendDocumentElement(doc, "filter", f)
		default:
			doc = append(doc, e...)
		}
	}
	doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
	return doc
}

// foundDocs collects the replies to the parts of a rewritten find.
type foundDocs struct {
	docs  []bsoncore.Document
	bytes int
}

// add folds in one part's reply. It says false when the original command must be
// sent instead (the part failed, or the documents are too many bytes for one
// batch), and returns the id of a cursor the part left open, to be closed.
func (f *foundDocs) add(reply bsoncore.Document) (ok bool, open int64) {
	if !isOK(reply.Lookup("ok")) {
		return false, 0
	}
	cursor, isDoc := reply.Lookup("cursor").DocumentOK()
	if !isDoc {
		return false, 0
	}
	if id, _ := cursor.Lookup("id").AsInt64OK(); id != 0 {
		return false, id
	}
	batch, isArray := cursor.Lookup("firstBatch").ArrayOK()
	if !isArray {
		return false, 0
	}
	values, err := batch.Values()
	if err != nil {
		return false, 0
	}
	for _, v := range values {
		d, isDoc := v.DocumentOK()
		if !isDoc {
			return false, 0
		}
		f.bytes += len(d)
		if f.bytes > maxFindInBytes {
			return false, 0
		}
		f.docs = append(f.docs, d)
	}
	return true, 0
}

// reply is MongoDB's answer to the whole find: one batch, no cursor left.
func (f *foundDocs) reply(ns string) bsoncore.Document {
	cursor := bsoncore.NewDocumentBuilder().
		AppendArray("firstBatch", docArray(f.docs)).
		AppendInt64("id", 0).
		AppendString("ns", ns).
		Build()
	return bsoncore.NewDocumentBuilder().AppendDocument("cursor", cursor).
		AppendDouble("ok", 1).Build()
}

// exchangeFindIn sends the parts of a rewritten find one after the other and answers
// the client once with their documents, or, when a part says so (foundDocs.add),
// forwards the original request as it came.
func exchangeFindIn(client, backend net.Conn, req []byte, cmd bsoncore.Document,
	parts []bsoncore.Document, ns string) error {
	reqID := int32(binary.LittleEndian.Uint32(req[4:8]))
	var found foundDocs
	for _, part := range parts {
		reply, err := roundTrip(backend, reqID, part)
		if err != nil {
			return err
		}
		ok, open := found.add(reply)
		if open != 0 {
			if _, err := roundTrip(backend, reqID, killCursors(cmd, open)); err != nil {
				return err
			}
		}
		if !ok {
			return exchange(client, backend, req)
		}
	}
	_, err := client.Write(encodeMsg(wiremessage.NextRequestID(), reqID, 0, found.reply(ns)))
	return err
}

// roundTrip sends one command on the backend connection and reads its reply.
func roundTrip(backend net.Conn, reqID int32, cmd bsoncore.Document) (bsoncore.Document, error) {
	if _, err := backend.Write(encodeMsg(reqID, 0, 0, cmd)); err != nil {
		return nil, err
	}
	msg, err := readMessage(backend)
	if err != nil {
		return nil, err
	}
	return replyDocument(msg)
}

// killCursors closes a cursor the find cmd left open, in its session.
func killCursors(cmd bsoncore.Document, id int64) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().
		AppendString("killCursors", cmd.Lookup("find").StringValue()).
		AppendArray("cursors", bsoncore.NewArrayBuilder().AppendInt64(id).Build())
	if lsid, err := cmd.LookupErr("lsid"); err == nil {
		b.AppendValue("lsid", lsid)
	}
	return b.AppendString("$db", cmd.Lookup("$db").StringValue()).Build()
}
