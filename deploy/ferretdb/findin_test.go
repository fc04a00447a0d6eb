package main

import (
	"encoding/binary"
	"math"
	"net"
	"strings"
	"testing"

	"go.mongodb.org/mongo-driver/bson/primitive"
	"go.mongodb.org/mongo-driver/x/bsonx/bsoncore"
	"go.mongodb.org/mongo-driver/x/mongo/driver/wiremessage"
)

func builder() *bsoncore.DocumentBuilder { return bsoncore.NewDocumentBuilder() }

// inFilter is {_id: {$in: values}} followed by the extra fields.
func inFilter(values *bsoncore.ArrayBuilder, extra ...func(*bsoncore.DocumentBuilder)) bsoncore.Document {
	return inFilterOf(values.Build(), extra...)
}

func inFilterOf(values []byte, extra ...func(*bsoncore.DocumentBuilder)) bsoncore.Document {
	b := builder().AppendDocument("_id", builder().AppendArray("$in", values).Build())
	for _, e := range extra {
		e(b)
	}
	return b.Build()
}

func strings3() *bsoncore.ArrayBuilder {
	return bsoncore.NewArrayBuilder().AppendString("a").AppendString("b").AppendString("c")
}

// findCmd is a find as pymongo sends it, the given fields before $db.
func findCmd(filter bsoncore.Document, fields ...func(*bsoncore.DocumentBuilder)) bsoncore.Document {
	b := builder().AppendString("find", "c").AppendDocument("filter", filter)
	for _, f := range fields {
		f(b)
	}
	return b.AppendDocument("lsid", builder().AppendString("id", "s1").Build()).
		AppendString("$db", "d").Build()
}

func TestFindInRewritesThePlainShapeKeepingEveryOtherField(t *testing.T) {
	filter := inFilter(strings3(), func(b *bsoncore.DocumentBuilder) {
		b.AppendString("issue_id", "x")
	})
	projection := builder().AppendInt32("title", 1).Build()
	cmd := findCmd(filter, func(b *bsoncore.DocumentBuilder) {
		b.AppendDocument("projection", projection).AppendInt32("batchSize", 2).
			AppendDocument("sort", builder().Build()).AppendInt64("skip", 0).
			AppendInt32("limit", 3).AppendBoolean("singleBatch", false).
			AppendDocument("readConcern", builder().AppendString("level", "local").Build()).
			AppendBoolean("tailable", false)
	})
	parts, ns, ok := findIn(request{cmd: cmd})
	if !ok || ns != "d.c" || len(parts) != 3 {
		t.Fatalf("ok %v, ns %q, %d parts", ok, ns, len(parts))
	}
	for i, part := range parts {
		if err := part.Validate(); err != nil {
			t.Fatal(err)
		}
		want := builder().AppendString("_id", []string{"a", "b", "c"}[i]).
			AppendString("issue_id", "x").Build()
		if got := part.Lookup("filter").Document(); string(got) != string(want) {
			t.Fatalf("part %d: filter %v, want %v", i, got, want)
		}
		if _, err := part.LookupErr("batchSize"); err == nil {
			t.Fatalf("part %d keeps batchSize: FerretDB would hold a cursor open", i)
		}
		elems, _ := part.Elements()
		keys := []string{"find", "filter", "projection", "sort", "skip", "limit", "singleBatch",
			"readConcern", "tailable", "lsid", "$db"}
		if len(elems) != len(keys) {
			t.Fatalf("part %d: %v", i, part)
		}
		for k, e := range elems {
			if e.Key() != keys[k] {
				t.Fatalf("part %d: field %d is %q, want %q", i, k, e.Key(), keys[k])
			}
			if e.Key() != "filter" && !e.Value().Equal(cmd.Lookup(e.Key())) {
				t.Fatalf("part %d: %s changed", i, e.Key())
			}
		}
	}
}

func TestFindInKeepsTheOrderOfTheFilterKeys(t *testing.T) {
	filter := builder().AppendString("a", "1").
		AppendDocument("_id", builder().AppendArray("$in", strings3().Build()).Build()).
		AppendString("z", "2").Build()
	parts, _, ok := findIn(request{cmd: findCmd(filter)})
	if !ok {
		t.Fatal("not rewritten")
	}
	want := builder().AppendString("a", "1").AppendString("_id", "a").AppendString("z", "2").Build()
	if got := parts[0].Lookup("filter").Document(); string(got) != string(want) {
		t.Fatalf("filter %v, want %v", got, want)
	}
}

func TestFindInForwardsEveryOtherShape(t *testing.T) {
	plain := inFilter(strings3())
	field := func(f func(*bsoncore.DocumentBuilder)) bsoncore.Document { return findCmd(plain, f) }
	many := bsoncore.NewArrayBuilder()
	for i := 0; i <= maxFindIn; i++ {
		many.AppendInt32(int32(i))
	}
	re := bsoncore.NewArrayBuilder().AppendString("a").AppendRegex("^a", "")
	sub := bsoncore.NewArrayBuilder().AppendString("a").
		AppendDocument(builder().AppendString("k", "v").Build())
	arr := bsoncore.NewArrayBuilder().AppendArray(bsoncore.NewArrayBuilder().AppendString("a").Build())
	null := bsoncore.NewArrayBuilder().AppendNull()
	nan := bsoncore.NewArrayBuilder().AppendDouble(math.NaN())
	dec := bsoncore.NewArrayBuilder().AppendDecimal128(primitive.NewDecimal128(0, 5))
	cases := map[string]request{
		"sort": {cmd: field(func(b *bsoncore.DocumentBuilder) {
			b.AppendDocument("sort", builder().AppendInt32("_id", 1).Build())
		})},
		"skip":       {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendInt32("skip", 1) })},
		"limit < n":  {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendInt32("limit", 2) })},
		"limit < 0":  {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendInt64("limit", -5) })},
		"limit 2.5":  {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendDouble("limit", 2.5) })},
		"hint":       {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendString("hint", "_id_") })},
		"min":        {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendDocument("min", plain) })},
		"txnNumber":  {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendInt64("txnNumber", 1) })},
		"tailable":   {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendBoolean("tailable", true) })},
		"returnKey":  {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendBoolean("returnKey", true) })},
		"showRecord": {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendBoolean("showRecordId", true) })},
		"unknown":    {cmd: field(func(b *bsoncore.DocumentBuilder) { b.AppendInt32("someday", 1) })},
		"collation": {cmd: field(func(b *bsoncore.DocumentBuilder) {
			b.AppendDocument("collation", builder().AppendString("locale", "vi").Build())
		})},
		"exhaust":      {cmd: findCmd(plain), flags: wiremessage.ExhaustAllowed},
		"moreToCome":   {cmd: findCmd(plain), flags: wiremessage.MoreToCome},
		"1001 values":  {cmd: findCmd(inFilter(many))},
		"regex value":  {cmd: findCmd(inFilter(re))},
		"document":     {cmd: findCmd(inFilter(sub))},
		"array value":  {cmd: findCmd(inFilter(arr))},
		"null value":   {cmd: findCmd(inFilter(null))},
		"NaN":          {cmd: findCmd(inFilter(nan))},
		"decimal":      {cmd: findCmd(inFilter(dec))},
		"_id equality": {cmd: findCmd(builder().AppendString("_id", "a").Build())},
		"no _id":       {cmd: findCmd(builder().AppendString("k", "a").Build())},
		"$in and $ne": {cmd: findCmd(builder().AppendDocument("_id", builder().
			AppendArray("$in", strings3().Build()).AppendString("$ne", "b").Build()).Build())},
		"$nin": {cmd: findCmd(builder().AppendDocument("_id", builder().
			AppendArray("$nin", strings3().Build()).Build()).Build())},
		"$in not an array": {cmd: findCmd(builder().AppendDocument("_id", builder().
			AppendString("$in", "a").Build()).Build())},
		"aggregate": {cmd: builder().AppendString("aggregate", "c").AppendString("$db", "d").Build()},
		"explain": {cmd: builder().AppendDocument("explain", findCmd(plain)).
			AppendString("$db", "d").Build()},
	}
	for name, r := range cases {
		if parts, _, ok := findIn(r); ok {
			t.Errorf("%s: rewritten into %d parts", name, len(parts))
		}
	}
}

func TestFindInSendsEachIdOnceWithNumbersAsMongoDBComparesThem(t *testing.T) {
	oid := primitive.NewObjectID()
	values := bsoncore.NewArrayBuilder().
		AppendInt32(5).AppendInt64(5).AppendDouble(5.0).AppendDouble(5.5).
		AppendString("5").AppendString("5").
		AppendObjectID(oid).AppendObjectID(oid).
		AppendInt64(1<<53 + 1).AppendDouble(1 << 53).AppendInt64(1 << 53).
		AppendDouble(math.Copysign(0, -1)).AppendInt32(0).
		AppendDateTime(7).AppendInt64(7).AppendBoolean(true).AppendInt32(1).Build()
	parts, _, ok := findIn(request{cmd: findCmd(inFilterOf(values))})
	if !ok {
		t.Fatal("not rewritten")
	}
	var got []string
	for _, p := range parts {
		got = append(got, p.Lookup("filter", "_id").String())
	}
	want := []string{`{"$numberInt":"5"}`, `{"$numberDouble":"5.5"}`, `"5"`,
		`{"$oid":"` + oid.Hex() + `"}`, `{"$numberLong":"9007199254740993"}`,
		`{"$numberDouble":"9.007199254740992E+15"}`, `{"$numberDouble":"-0.0"}`,
		`{"$date":{"$numberLong":"7"}}`, `{"$numberLong":"7"}`, `true`, `{"$numberInt":"1"}`}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("sent\n%v\nwant\n%v", got, want)
	}
	// the limit counts distinct values: 11 here
	limit := func(n int32) request {
		return request{cmd: findCmd(inFilterOf(values), func(b *bsoncore.DocumentBuilder) {
			b.AppendInt32("limit", n)
		})}
	}
	if _, _, ok := findIn(limit(11)); !ok {
		t.Fatal("limit 11 for 11 distinct values: not rewritten")
	}
	if _, _, ok := findIn(limit(10)); ok {
		t.Fatal("limit 10 for 11 distinct values: rewritten")
	}
}

func TestFindInEmptyListHasNoPart(t *testing.T) {
	parts, ns, ok := findIn(request{cmd: findCmd(inFilter(bsoncore.NewArrayBuilder()))})
	if !ok || len(parts) != 0 || ns != "d.c" {
		t.Fatalf("ok %v, %d parts, ns %q", ok, len(parts), ns)
	}
}

func found(docs ...bsoncore.Document) bsoncore.Document {
	batch := bsoncore.NewArrayBuilder()
	for _, d := range docs {
		batch.AppendDocument(d)
	}
	return builder().AppendDocument("cursor", builder().AppendArray("firstBatch", batch.Build()).
		AppendInt64("id", 0).AppendString("ns", "d.c").Build()).AppendDouble("ok", 1).Build()
}

func idDoc(id string) bsoncore.Document { return builder().AppendString("_id", id).Build() }

func TestFoundDocsMergesInOrderAndRefusesWhatNeedsTheOriginal(t *testing.T) {
	var f foundDocs
	for _, reply := range []bsoncore.Document{found(idDoc("b")), found(), found(idDoc("a"))} {
		if ok, open := f.add(reply); !ok || open != 0 {
			t.Fatalf("add(%v): %v, %d", reply, ok, open)
		}
	}
	out := f.reply("d.c")
	want := found(idDoc("b"), idDoc("a"))
	if string(out) != string(want) {
		t.Fatalf("reply %v, want %v", out, want)
	}
	if out.Lookup("cursor", "id").Type != 0x12 {
		t.Fatal("cursor id is not an int64, as MongoDB sends it")
	}

	failed := builder().AppendDouble("ok", 0).AppendInt32("code", 2).
		AppendString("errmsg", "bad projection").Build()
	if ok, _ := (&foundDocs{}).add(failed); ok {
		t.Fatal("a failed part accepted")
	}
	open := builder().AppendDocument("cursor", builder().
		AppendArray("firstBatch", bsoncore.NewArrayBuilder().Build()).
		AppendInt64("id", 77).AppendString("ns", "d.c").Build()).AppendDouble("ok", 1).Build()
	if ok, id := (&foundDocs{}).add(open); ok || id != 77 {
		t.Fatalf("an open cursor: %v, %d", ok, id)
	}
	big := builder().AppendString("_id", "x").
		AppendString("text", strings.Repeat("é", maxFindInBytes/4-100)).Build()
	var g foundDocs
	if ok, _ := g.add(found(big)); !ok {
		t.Fatal("half the limit refused")
	}
	if ok, _ := g.add(found(big)); !ok {
		t.Fatal("the whole limit refused")
	}
	if ok, _ := g.add(found(idDoc(strings.Repeat("y", 1000)))); ok {
		t.Fatal("past the limit accepted")
	}
}

// findBackend answers finds by _id: a document for "a" and "b", nothing for others,
// ok 0 for "bad", an open cursor for "open"; and the original $in find with a marker
// document, so that the test sees it was forwarded.
func findBackend(t *testing.T, conn net.Conn, seen chan<- bsoncore.Document) {
	serveBackend(t, conn, seen, func(_ []byte, cmd bsoncore.Document) bsoncore.Document {
		id := cmd.Lookup("filter", "_id")
		switch {
		case cmd.Lookup("killCursors").Type != 0:
			return builder().AppendDouble("ok", 1).Build()
		case id.Type == 0x03:
			return found(idDoc("original"))
		case id.StringValue() == "a", id.StringValue() == "b":
			return found(idDoc(id.StringValue()))
		case id.StringValue() == "bad":
			return builder().AppendDouble("ok", 0).AppendInt32("code", 2).
				AppendString("errmsg", "no").Build()
		case id.StringValue() == "open":
			return builder().AppendDocument("cursor", builder().
				AppendArray("firstBatch", bsoncore.NewArrayBuilder().Build()).
				AppendInt64("id", 77).AppendString("ns", "d.c").Build()).AppendDouble("ok", 1).Build()
		default:
			return found()
		}
	})
}

// runFindIn sends a find by _id $in of ids through exchangeFindIn; the reply and
// the commands the backend saw.
func runFindIn(t *testing.T, ids ...string) (bsoncore.Document, []bsoncore.Document) {
	values := bsoncore.NewArrayBuilder()
	for _, id := range ids {
		values.AppendString(id)
	}
	req := encodeMsg(42, 0, 0, findCmd(inFilter(values)))
	r, err := parseMsg(req[16:])
	if err != nil {
		t.Fatal(err)
	}
	parts, ns, ok := findIn(r)
	if !ok {
		t.Fatal("not rewritten")
	}
	client, clientEnd := net.Pipe()
	backend, backendEnd := net.Pipe()
	seen := make(chan bsoncore.Document, 20)
	go findBackend(t, backendEnd, seen)
	done := make(chan error, 1)
	go func() { done <- exchangeFindIn(clientEnd, backend, req, r.cmd, parts, ns) }()
	msg, err := readMessage(client)
	if err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	backend.Close()
	var sent []bsoncore.Document
	for cmd := range seen {
		sent = append(sent, cmd)
	}
	if responseTo := int32(binary.LittleEndian.Uint32(msg[8:12])); responseTo != 42 {
		t.Fatalf("responseTo %d", responseTo)
	}
	out, err := replyDocument(msg)
	if err != nil {
		t.Fatal(err)
	}
	return out, sent
}

func TestExchangeFindInMergesTheParts(t *testing.T) {
	out, sent := runFindIn(t, "b", "zz", "a", "b")
	if len(sent) != 3 {
		t.Fatalf("sent %d finds, want 3 (b, zz, a)", len(sent))
	}
	if want := found(idDoc("b"), idDoc("a")); string(out) != string(want) {
		t.Fatalf("reply %v, want %v", out, want)
	}
}

func TestExchangeFindInForwardsTheOriginalWhenAPartFails(t *testing.T) {
	out, sent := runFindIn(t, "a", "bad", "b")
	if len(sent) != 3 || sent[2].Lookup("filter", "_id", "$in").Type != 0x04 {
		t.Fatalf("sent %v", sent)
	}
	if want := found(idDoc("original")); string(out) != string(want) {
		t.Fatalf("reply %v, want FerretDB's own answer to the original", out)
	}
}

func TestExchangeFindInClosesACursorLeftOpen(t *testing.T) {
	out, sent := runFindIn(t, "a", "open", "b")
	if len(sent) != 4 {
		t.Fatalf("sent %d commands: %v", len(sent), sent)
	}
	kill := sent[2]
	ids, _ := kill.Lookup("cursors").Array().Values()
	if kill.Lookup("killCursors").StringValue() != "c" || len(ids) != 1 || ids[0].Int64() != 77 ||
		kill.Lookup("$db").StringValue() != "d" || kill.Lookup("lsid").Type != 0x03 {
		t.Fatalf("killCursors %v", kill)
	}
	if want := found(idDoc("original")); string(out) != string(want) {
		t.Fatalf("reply %v", out)
	}
}

func TestExchangeFindInEmptyListAsksNothing(t *testing.T) {
	out, sent := runFindIn(t)
	if len(sent) != 0 {
		t.Fatalf("sent %v", sent)
	}
	if want := found(); string(out) != string(want) {
		t.Fatalf("reply %v", out)
	}
}
