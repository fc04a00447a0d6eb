package main

import (
	"encoding/binary"
	"hash/crc32"
	"net"
	"testing"

	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/x/mongo/driver/wiremessage"
)

func doc(b *bsoncore.DocumentBuilder) bsoncore.Document { return b.Build() }

func stmt(id string) bsoncore.Document {
	return doc(bsoncore.NewDocumentBuilder().
		AppendDocument("q", doc(bsoncore.NewDocumentBuilder().AppendString("_id", id))).
		AppendDocument("u", doc(bsoncore.NewDocumentBuilder().AppendDocument("$inc",
			doc(bsoncore.NewDocumentBuilder().AppendInt32("n", 1))))))
}

// updateMsg is an update OP_MSG as drivers send it: the statements in a document
// sequence after the command document.
func updateMsg(reqID int32, flags wiremessage.MsgFlag, cmd bsoncore.Document,
	stmts ...bsoncore.Document) []byte {
	idx, msg := wiremessage.AppendHeaderStart(nil, reqID, 0, wiremessage.OpMsg)
	msg = wiremessage.AppendMsgFlags(msg, flags)
	msg = wiremessage.AppendMsgSectionType(msg, wiremessage.SingleDocument)
	msg = append(msg, cmd...)
	msg = wiremessage.AppendMsgSectionType(msg, wiremessage.DocumentSequence)
	start := len(msg)
	msg = append(msg, 0, 0, 0, 0)
	msg = append(msg, "updates\x00"...)
	for _, s := range stmts {
		msg = append(msg, s...)
	}
	binary.LittleEndian.PutUint32(msg[start:], uint32(len(msg)-start))
	binary.LittleEndian.PutUint32(msg[idx:], uint32(len(msg)))
	return msg
}

func updateCmd() bsoncore.Document {
	return doc(bsoncore.NewDocumentBuilder().
		AppendString("update", "c").
		AppendBoolean("ordered", false).
		AppendDocument("lsid", doc(bsoncore.NewDocumentBuilder().AppendString("id", "s1"))).
		AppendInt64("txnNumber", 7).
		AppendDocument("writeConcern", doc(bsoncore.NewDocumentBuilder().AppendString("w", "majority"))).
		AppendBoolean("bypassDocumentValidation", true).
		AppendDocument("let", doc(bsoncore.NewDocumentBuilder().AppendInt32("x", 1))).
		AppendString("comment", "why").
		AppendString("$db", "d"))
}

func TestSplitUpdateOneStatementPerPartKeepingEveryOtherField(t *testing.T) {
	msg := updateMsg(5, 0, updateCmd(), stmt("a"), stmt("b"), stmt("c"))
	r, err := parseMsg(msg[16:])
	if err != nil {
		t.Fatal(err)
	}
	parts, ordered := splitUpdate(r)
	if len(parts) != 3 || ordered {
		t.Fatalf("got %d parts, ordered %v; want 3, false", len(parts), ordered)
	}
	for i, part := range parts {
		if err := part.Validate(); err != nil {
			t.Fatal(err)
		}
		keys := []string{"update", "ordered", "lsid", "txnNumber", "writeConcern",
			"bypassDocumentValidation", "let", "comment", "$db", "updates"}
		elems, _ := part.Elements()
		if len(elems) != len(keys) {
			t.Fatalf("part %d: %v", i, part)
		}
		for k, e := range elems {
			if e.Key() != keys[k] {
				t.Fatalf("part %d: field %d is %q, want %q", i, k, e.Key(), keys[k])
			}
			if e.Key() != "updates" && !e.Value().Equal(updateCmd().Lookup(e.Key())) {
				t.Fatalf("part %d: %s changed", i, e.Key())
			}
		}
		values, _ := part.Lookup("updates").Array().Values()
		want := stmt([]string{"a", "b", "c"}[i])
		if len(values) != 1 || string(values[0].Document()) != string(want) {
			t.Fatalf("part %d: updates %v", i, part.Lookup("updates"))
		}
	}
}

func TestSplitUpdateInlineStatementsAndDefaults(t *testing.T) {
	cmd := doc(bsoncore.NewDocumentBuilder().AppendString("update", "c").
		AppendArray("updates", bsoncore.NewArrayBuilder().AppendDocument(stmt("a")).
			AppendDocument(stmt("b")).Build()).
		AppendString("$db", "d"))
	parts, ordered := splitUpdate(request{cmd: cmd})
	if len(parts) != 2 || !ordered {
		t.Fatalf("got %d parts, ordered %v; want 2, true (the default)", len(parts), ordered)
	}
	if _, err := parts[1].LookupErr("$db"); err != nil {
		t.Fatal("$db lost")
	}
	one := doc(bsoncore.NewDocumentBuilder().AppendString("update", "c").
		AppendArray("updates", bsoncore.NewArrayBuilder().AppendDocument(stmt("a")).Build()))
	del := doc(bsoncore.NewDocumentBuilder().AppendString("delete", "c").
		AppendArray("deletes", bsoncore.NewArrayBuilder().AppendDocument(stmt("a")).
			AppendDocument(stmt("b")).Build()))
	for _, c := range []bsoncore.Document{one, del} {
		if parts, _ := splitUpdate(request{cmd: c}); parts != nil {
			t.Fatalf("%v was split", c)
		}
	}
}

func reply(b *bsoncore.DocumentBuilder) bsoncore.Document { return b.Build() }

func TestMergeRewritesIndexesAndSums(t *testing.T) {
	var m merged
	upserted := bsoncore.NewArrayBuilder().AppendDocument(doc(bsoncore.NewDocumentBuilder().
		AppendInt32("index", 0).AppendString("_id", "new"))).Build()
	dup := bsoncore.NewArrayBuilder().AppendDocument(doc(bsoncore.NewDocumentBuilder().
		AppendInt32("index", 0).AppendInt32("code", 11000).AppendString("errmsg", "dup"))).Build()
	wce := doc(bsoncore.NewDocumentBuilder().AppendInt32("code", 64).AppendString("errmsg", "wc"))
	steps := []struct {
		reply  bsoncore.Document
		failed bool
	}{
		{reply(bsoncore.NewDocumentBuilder().AppendInt32("n", 3).AppendInt32("nModified", 2).
			AppendDouble("ok", 1)), false},
		{reply(bsoncore.NewDocumentBuilder().AppendInt32("n", 1).AppendArray("upserted", upserted).
			AppendInt32("nModified", 0).AppendDouble("ok", 1)), false},
		{reply(bsoncore.NewDocumentBuilder().AppendDouble("ok", 0).AppendString("errmsg", "bad $inc").
			AppendInt32("code", 14).AppendString("codeName", "TypeMismatch")), true},
		{reply(bsoncore.NewDocumentBuilder().AppendInt32("n", 0).AppendInt32("nModified", 0).
			AppendArray("writeErrors", dup).AppendDocument("writeConcernError", wce).
			AppendInt32("ok", 1)), true},
	}
	for i, s := range steps {
		if got := m.add(int32(i+4), s.reply); got != s.failed {
			t.Fatalf("statement %d: failed %v, want %v", i, got, s.failed)
		}
	}
	out := m.reply()
	if out.Lookup("n").Int32() != 4 || out.Lookup("nModified").Int32() != 2 ||
		out.Lookup("ok").Double() != 1 {
		t.Fatalf("counts: %v", out)
	}
	ups, _ := out.Lookup("upserted").Array().Values()
	if len(ups) != 1 || ups[0].Document().Lookup("index").Int32() != 5 ||
		ups[0].Document().Lookup("_id").StringValue() != "new" {
		t.Fatalf("upserted: %v", out.Lookup("upserted"))
	}
	errs, _ := out.Lookup("writeErrors").Array().Values()
	if len(errs) != 2 {
		t.Fatalf("writeErrors: %v", out.Lookup("writeErrors"))
	}
	for k, want := range []struct {
		index, code int32
		msg         string
	}{{6, 14, "bad $inc"}, {7, 11000, "dup"}} {
		e := errs[k].Document()
		if e.Lookup("index").Int32() != want.index || e.Lookup("code").Int32() != want.code ||
			e.Lookup("errmsg").StringValue() != want.msg {
			t.Fatalf("writeErrors[%d]: %v", k, e)
		}
	}
	if !out.Lookup("writeConcernError").Equal(bsoncore.Value{Type: 3, Data: wce}) {
		t.Fatalf("writeConcernError: %v", out)
	}
	clean := (&merged{}).reply()
	for _, key := range []string{"upserted", "writeErrors", "writeConcernError"} {
		if _, err := clean.LookupErr(key); err == nil {
			t.Fatalf("%s in a reply without any", key)
		}
	}
}

// serveBackend stands in for FerretDB on conn: it reads each request, passes its
// command to seen and writes answer's reply, until the connection closes.
func serveBackend(t *testing.T, conn net.Conn, seen chan<- bsoncore.Document,
	answer func(msg []byte, cmd bsoncore.Document) bsoncore.Document) {
	defer close(seen)
	for {
		msg, err := readMessage(conn)
		if err != nil {
			return
		}
		r, err := parseMsg(msg[16:])
		if err != nil {
			t.Error(err)
			return
		}
		seen <- r.cmd
		reqID := int32(binary.LittleEndian.Uint32(msg[4:8]))
		if _, err := conn.Write(encodeMsg(99, reqID, 0, answer(msg, r.cmd))); err != nil {
			t.Error(err)
			return
		}
	}
}

// fakeBackend answers each update part: ok with n 1, or ok 0 for statements on "bad".
func fakeBackend(t *testing.T, conn net.Conn, seen chan<- bsoncore.Document) {
	serveBackend(t, conn, seen, func(msg []byte, cmd bsoncore.Document) bsoncore.Document {
		if wiremessage.IsMsgMoreToCome(msg) {
			t.Error("a part was sent flagged moreToCome: FerretDB 1.24 would answer it anyway")
		}
		values, _ := cmd.Lookup("updates").Array().Values()
		if values[0].Document().Lookup("q", "_id").StringValue() == "bad" {
			return bsoncore.NewDocumentBuilder().AppendDouble("ok", 0).AppendInt32("code", 14).
				AppendString("errmsg", "no").Build()
		}
		return bsoncore.NewDocumentBuilder().AppendInt32("n", 1).AppendInt32("nModified", 1).
			AppendDouble("ok", 1).Build()
	})
}

func TestExchangeSplitStopsWhereOrderedSays(t *testing.T) {
	for _, tc := range []struct {
		ordered bool
		sent    int
		n       int32
	}{{true, 2, 1}, {false, 4, 3}} {
		cmd := doc(bsoncore.NewDocumentBuilder().AppendString("update", "c").
			AppendBoolean("ordered", tc.ordered).AppendString("$db", "d"))
		req := updateMsg(42, 0, cmd, stmt("a"), stmt("bad"), stmt("c"), stmt("d"))
		client, clientEnd := net.Pipe()
		backend, backendEnd := net.Pipe()
		seen := make(chan bsoncore.Document, 10)
		go fakeBackend(t, backendEnd, seen)
		r, _ := parseMsg(req[16:])
		parts, ordered := splitUpdate(r)
		done := make(chan error, 1)
		go func() { done <- exchangeSplit(clientEnd, backend, req, parts, ordered) }()
		msg, err := readMessage(client)
		if err != nil {
			t.Fatal(err)
		}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		backend.Close()
		sent := 0
		for range seen {
			sent++
		}
		if responseTo := int32(binary.LittleEndian.Uint32(msg[8:12])); responseTo != 42 {
			t.Fatalf("responseTo %d", responseTo)
		}
		out, err := replyDocument(msg)
		if err != nil {
			t.Fatal(err)
		}
		errs, _ := out.Lookup("writeErrors").Array().Values()
		if sent != tc.sent || out.Lookup("n").Int32() != tc.n || len(errs) != 1 ||
			errs[0].Document().Lookup("index").Int32() != 1 {
			t.Fatalf("ordered %v: sent %d, reply %v", tc.ordered, sent, out)
		}
	}
}

func TestExchangeSplitUnacknowledged(t *testing.T) {
	cmd := doc(bsoncore.NewDocumentBuilder().AppendString("update", "c").AppendString("$db", "d"))
	req := updateMsg(42, wiremessage.MoreToCome, cmd, stmt("a"), stmt("bad"), stmt("c"))
	backend, backendEnd := net.Pipe()
	seen := make(chan bsoncore.Document, 10)
	go fakeBackend(t, backendEnd, seen)
	r, _ := parseMsg(req[16:])
	parts, ordered := splitUpdate(r)
	// no client reader: a reply written to the client would block this test
	if err := exchangeSplit(nil, backend, req, parts, ordered); err != nil {
		t.Fatal(err)
	}
	backend.Close()
	sent := 0
	for range seen {
		sent++
	}
	if sent != 2 {
		t.Fatalf("sent %d parts, want 2: ordered (the default) stops at the failing one", sent)
	}
}

func TestAcknowledgedClearsMoreToComeAndKeepsTheChecksumValid(t *testing.T) {
	cmd := doc(bsoncore.NewDocumentBuilder().AppendString("update", "c").AppendString("$db", "d"))
	req := encodeMsg(7, 0, wiremessage.MoreToCome|wiremessage.ChecksumPresent, cmd)
	req = append(req, 0, 0, 0, 0)
	binary.LittleEndian.PutUint32(req[0:4], uint32(len(req)))
	got := acknowledged(req)
	if wiremessage.IsMsgMoreToCome(got) || !wiremessage.IsMsgMoreToCome(req) {
		t.Fatal("flag not cleared, or the original changed")
	}
	end := len(got) - 4
	if binary.LittleEndian.Uint32(got[end:]) != crc32.Checksum(got[:end], castagnoli) {
		t.Fatal("checksum not recomputed")
	}
	if r, err := parseMsg(got[16:]); err != nil || !r.cmd.Lookup("update").Equal(cmd.Lookup("update")) {
		t.Fatalf("body changed: %v", err)
	}
}
