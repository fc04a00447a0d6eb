package main

// Multi-statement updates, one statement at a time.
//
// FerretDB 1.24's update (internal/handler/msg_update.go, updateDocument) opens a
// backend query per statement and closes its iterator in a defer inside the loop,
// so every statement keeps one PostgreSQL pool connection until the whole command
// returns. A command with more statements than the pool (50, see deploy/infra.sh),
// or a few such commands at once, waits in pgxpool.Acquire forever, and the whole
// server with it. No pool size holds for every statement count, so the proxy sends
// a multi-statement update as one single-statement command per statement, one after
// the other on the client's backend connection, under the lock plan of the whole
// command, and merges the replies into the one MongoDB gives: n, nModified,
// upserted and writeErrors with each index that of the statement in the original
// command, writeConcernError, ok. It also honours `ordered`, which FerretDB 1.24
// ignores (an error in any statement failed the whole command there).
//
// delete (msg_delete.go) closes each statement's iterator before the next and
// findAndModify has one statement, so both pass through whole. An update flagged
// moreToCome (w:0) is split the same way, and its merged reply dropped (FerretDB
// answers every part: see exchange in proxy.go).

import (
	"encoding/binary"
	"errors"
	"fmt"

	"go.mongodb.org/mongo-driver/bson/bsontype"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/x/mongo/driver/wiremessage"
)

// request is one parsed OP_MSG request.
type request struct {
	flags wiremessage.MsgFlag
	cmd   bsoncore.Document
	seqs  map[string][]bsoncore.Document
}

// parseMsg reads an OP_MSG body (after the header).
func parseMsg(body []byte) (request, error) {
	flags, rem, ok := wiremessage.ReadMsgFlags(body)
	if !ok {
		return request{}, errors.New("short OP_MSG")
	}
	if flags&wiremessage.ChecksumPresent != 0 {
		if len(rem) < 4 {
			return request{}, errors.New("short OP_MSG checksum")
		}
		rem = rem[:len(rem)-4]
	}
	r := request{flags: flags, seqs: map[string][]bsoncore.Document{}}
	for len(rem) > 0 {
		var kind wiremessage.SectionType
		kind, rem, ok = wiremessage.ReadMsgSectionType(rem)
		if !ok {
			return request{}, errors.New("bad OP_MSG section")
		}
		switch kind {
		case wiremessage.SingleDocument:
			r.cmd, rem, ok = wiremessage.ReadMsgSectionSingleDocument(rem)
		case wiremessage.DocumentSequence:
			var id string
			var docs []bsoncore.Document
			id, docs, rem, ok = wiremessage.ReadMsgSectionDocumentSequence(rem)
			r.seqs[id] = append(r.seqs[id], docs...)
		default:
			return request{}, fmt.Errorf("unknown OP_MSG section kind %d", kind)
		}
		if !ok {
			return request{}, errors.New("bad OP_MSG section")
		}
	}
	if r.cmd == nil {
		return request{}, errors.New("OP_MSG without a command document")
	}
	return r, nil
}

// statements returns the documents of seq, sent as a document sequence or inline.
func (r request) statements(seq string) []bsoncore.Document {
	docs := r.seqs[seq]
	if arr, ok := r.cmd.Lookup(seq).ArrayOK(); ok {
		values, _ := arr.Values()
		for _, v := range values {
			if d, ok := v.DocumentOK(); ok {
				docs = append(docs, d)
			}
		}
	}
	return docs
}

// splitUpdate returns one command per statement of a multi-statement update, each
// a copy of the original (lsid, txnNumber, $db, writeConcern, let, comment...) with
// only that statement in `updates`, and whether the update is ordered. Anything
// else, single statements included, gives nil: it passes through whole.
func splitUpdate(r request) (parts []bsoncore.Document, ordered bool) {
	first, err := r.cmd.IndexErr(0)
	if err != nil || first.Key() != "update" {
		return nil, false
	}
	stmts := r.statements("updates")
	if len(stmts) < 2 {
		return nil, false
	}
	ordered = true
	if v, err := r.cmd.LookupErr("ordered"); err == nil && v.Type == bsontype.Boolean {
		ordered = v.Boolean()
	}
	elems, err := r.cmd.Elements()
	if err != nil {
		return nil, false
	}
	for _, stmt := range stmts {
		idx, doc := bsoncore.AppendDocumentStart(nil)
		for _, e := range elems {
			if e.Key() != "updates" {
				doc = bsoncore.AppendValueElement(doc, e.Key(), e.Value())
			}
		}
		arr, doc := bsoncore.AppendArrayElementStart(doc, "updates")
		doc = bsoncore.AppendDocumentElement(doc, "0", stmt)
		doc, _ = bsoncore.AppendArrayEnd(doc, arr)
		doc, _ = bsoncore.AppendDocumentEnd(doc, idx)
		parts = append(parts, doc)
	}
	return parts, ordered
}

// encodeMsg builds a whole OP_MSG with one command document.
func encodeMsg(reqID, respTo int32, flags wiremessage.MsgFlag, doc bsoncore.Document) []byte {
	idx, msg := wiremessage.AppendHeaderStart(nil, reqID, respTo, wiremessage.OpMsg)
	msg = wiremessage.AppendMsgFlags(msg, flags)
	msg = wiremessage.AppendMsgSectionType(msg, wiremessage.SingleDocument)
	msg = append(msg, doc...)
	binary.LittleEndian.PutUint32(msg[idx:], uint32(len(msg)))
	return msg
}

// replyDocument returns the command document of an OP_MSG reply.
func replyDocument(msg []byte) (bsoncore.Document, error) {
	if wiremessage.OpCode(binary.LittleEndian.Uint32(msg[12:16])) != wiremessage.OpMsg {
		return nil, errors.New("reply to an OP_MSG is not an OP_MSG")
	}
	r, err := parseMsg(msg[16:])
	if err != nil {
		return nil, err
	}
	return r.cmd, nil
}

// merged folds the replies to the parts of a split update into one.
type merged struct {
	n, modified  int64
	upserted     []bsoncore.Document
	writeErrors  []bsoncore.Document
	concernError bsoncore.Value
}

// add folds in the reply to statement i and says whether that statement failed.
// A reply with ok: 0 (FerretDB answers so for a statement that fails, e.g. $inc
// on a string) becomes that statement's write error, as MongoDB reports it.
func (m *merged) add(i int32, reply bsoncore.Document) bool {
	if !isOK(reply.Lookup("ok")) {
		we := bsoncore.NewDocumentBuilder().
			AppendInt32("index", i).
			AppendInt32("code", reply.Lookup("code").AsInt32())
		msg, _ := reply.Lookup("errmsg").StringValueOK()
		we.AppendString("errmsg", msg)
		if info, ok := reply.Lookup("errInfo").DocumentOK(); ok {
			we.AppendDocument("errInfo", info)
		}
		m.writeErrors = append(m.writeErrors, we.Build())
		return true
	}
	if n, ok := reply.Lookup("n").AsInt64OK(); ok {
		m.n += n
	}
	if n, ok := reply.Lookup("nModified").AsInt64OK(); ok {
		m.modified += n
	}
	if wce, err := reply.LookupErr("writeConcernError"); err == nil {
		m.concernError = wce
	}
	failed := false
	for _, key := range []string{"upserted", "writeErrors"} {
		arr, ok := reply.Lookup(key).ArrayOK()
		if !ok {
			continue
		}
		values, _ := arr.Values()
		for _, v := range values {
			d, ok := v.DocumentOK()
			if !ok {
				continue
			}
			d = withIndex(d, i)
			if key == "upserted" {
				m.upserted = append(m.upserted, d)
			} else {
				m.writeErrors = append(m.writeErrors, d)
				failed = true
			}
		}
	}
	return failed
}

// reply is the one reply MongoDB would give to the whole command.
func (m *merged) reply() bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendInt32("n", int32(m.n))
	if len(m.upserted) > 0 {
		b.AppendArray("upserted", docArray(m.upserted))
	}
	b.AppendInt32("nModified", int32(m.modified))
	if len(m.writeErrors) > 0 {
		b.AppendArray("writeErrors", docArray(m.writeErrors))
	}
	if m.concernError.Type != 0 {
		b.AppendValue("writeConcernError", m.concernError)
	}
	return b.AppendDouble("ok", 1).Build()
}

func isOK(v bsoncore.Value) bool {
	if f, ok := v.DoubleOK(); ok {
		return f == 1
	}
	if b, ok := v.BooleanOK(); ok {
		return b
	}
	n, ok := v.AsInt64OK()
	return ok && n == 1
}

// withIndex copies d with its "index" set to i.
func withIndex(d bsoncore.Document, i int32) bsoncore.Document {
	b := bsoncore.NewDocumentBuilder().AppendInt32("index", i)
	elems, _ := d.Elements()
	for _, e := range elems {
		if e.Key() != "index" {
			b.AppendValue(e.Key(), e.Value())
		}
	}
	return b.Build()
}

func docArray(docs []bsoncore.Document) []byte {
	b := bsoncore.NewArrayBuilder()
	for _, d := range docs {
		b.AppendDocument(d)
	}
	return b.Build()
}
