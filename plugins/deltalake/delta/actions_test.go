package delta

import (
	"encoding/json"
	"strings"
	"testing"
)

func TestCommitEncodeDecodeRoundTrip(t *testing.T) {
	ms := int64(1767225600000)
	in := []Action{
		{CommitInfo: CommitInfo{"operation": "WRITE", "txnId": "abc"}},
		{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 2}},
		{MetaData: &Metadata{ID: "id", Format: Format{Provider: "parquet", Options: map[string]string{}},
			SchemaString: ridesSchema().SchemaString(), PartitionColumns: []string{}, Configuration: map[string]string{}, CreatedTime: &ms}},
		{Txn: &Txn{AppID: "app", Version: 7, LastUpdated: &ms}},
		{Add: &Add{Path: "day=2026-01-01/p.parquet", PartitionValues: PartitionValues{"day": "2026-01-01", "city": ""}, Size: 10, ModificationTime: ms, DataChange: true}},
		{Remove: &Remove{Path: "old.parquet", DeletionTimestamp: &ms, DataChange: false}},
	}
	b, err := EncodeCommit(in)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
	if len(lines) != len(in) {
		t.Fatalf("%d lines for %d actions: one action per line is required", len(lines), len(in))
	}
	// Spec field names and units, literally.
	for _, want := range []string{`"minReaderVersion":1`, `"schemaString":"{\"type\":\"struct\"`, `"partitionValues":{"city":null,"day":"2026-01-01"}`, `"modificationTime":1767225600000`, `"dataChange":true`, `"deletionTimestamp":1767225600000`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("encoded commit lacks %s:\n%s", want, b)
		}
	}
	out, err := DecodeCommit(append(b, []byte(`{"domainMetadata":{"domain":"x"}}`+"\n")...))
	if err != nil {
		t.Fatal(err)
	}
	if len(out) != len(in)+1 || out[6].Other["domainMetadata"] == nil {
		t.Fatalf("decoded %d actions; unknown action kept: %v", len(out), out[len(out)-1].Other)
	}
	if out[4].Add.PartitionValues["day"] != "2026-01-01" || out[3].Txn.Version != 7 || commitTxnID(out) != "abc" {
		t.Fatalf("round trip lost data: %+v %+v", out[4].Add, out[3].Txn)
	}
	if _, err := EncodeCommit([]Action{{}}); err == nil {
		t.Fatal("an empty action was encoded")
	}
}

func TestSchemaStringRoundTripAndRefusals(t *testing.T) {
	s := Schema{Fields: []Field{
		{Name: "a", Type: Type{Name: "decimal", Precision: 12, Scale: 2}, Nullable: true},
		{Name: "b", Type: Type{Name: "timestamp"}},
	}}
	got, err := ParseSchemaString(s.SchemaString())
	if err != nil || len(got.Fields) != 2 || got.Fields[0].Type != s.Fields[0].Type || got.Fields[1].Nullable {
		t.Fatalf("round trip: %+v, %v", got, err)
	}
	if !strings.Contains(s.SchemaString(), `"type":"decimal(12,2)"`) {
		t.Fatalf("decimal not in Spark form: %s", s.SchemaString())
	}
	nested := `{"type":"struct","fields":[{"name":"n","type":{"type":"struct","fields":[]},"nullable":true,"metadata":{}}]}`
	if _, err := ParseSchemaString(nested); err == nil || !strings.Contains(err.Error(), `"n"`) {
		t.Fatalf("nested column: %v", err)
	}
	inv := `{"type":"struct","fields":[{"name":"x","type":"long","nullable":true,"metadata":{"delta.invariants":"x > 0"}}]}`
	if _, err := ParseSchemaString(inv); err == nil {
		t.Fatal("a column invariant was accepted though it cannot be enforced")
	}
	if _, err := ParseType("decimal(40,2)"); err == nil {
		t.Fatal("decimal(40,2) accepted")
	}
}

func TestCompareSchemas(t *testing.T) {
	table := Schema{Fields: []Field{{Name: "city", Type: Type{Name: "string"}}, {Name: "cnt", Type: Type{Name: "long"}}}}
	if _, err := CompareSchemas(table, Schema{Fields: []Field{{Name: "CITY", Type: Type{Name: "string"}}, {Name: "cnt", Type: Type{Name: "long"}}}}, false); err != nil {
		t.Fatalf("case-insensitive match refused: %v", err)
	}
	_, err := CompareSchemas(table, Schema{Fields: []Field{{Name: "city", Type: Type{Name: "string"}}, {Name: "cnt", Type: Type{Name: "double"}}}}, false)
	if err == nil || !strings.Contains(err.Error(), `"cnt" is long in the table but double in the config`) {
		t.Fatalf("type change: %v", err)
	}
	extra := Schema{Fields: append(append([]Field{}, table.Fields...), Field{Name: "note", Type: Type{Name: "string"}, Nullable: true})}
	if _, err := CompareSchemas(table, extra, false); err == nil || !strings.Contains(err.Error(), "schema_evolution") {
		t.Fatalf("new column without evolution: %v", err)
	}
	merged, err := CompareSchemas(table, extra, true)
	if err != nil || len(merged.Fields) != 3 {
		t.Fatalf("evolution: %+v, %v", merged, err)
	}
	notNull := Schema{Fields: append(append([]Field{}, table.Fields...), Field{Name: "note", Type: Type{Name: "string"}})}
	if _, err := CompareSchemas(table, notNull, true); err == nil {
		t.Fatal("a non-nullable column was added to an existing table")
	}
}

func TestStats(t *testing.T) {
	s := Schema{Fields: []Field{
		{Name: "ts", Type: Type{Name: "timestamp"}, Nullable: true},
		{Name: "x", Type: Type{Name: "double"}, Nullable: true},
		{Name: "y", Type: Type{Name: "double"}, Nullable: true},
		{Name: "s", Type: Type{Name: "string"}, Nullable: true},
		{Name: "d", Type: Type{Name: "decimal", Precision: 10, Scale: 2}, Nullable: true},
		{Name: "b", Type: Type{Name: "boolean"}, Nullable: true},
	}}
	long := strings.Repeat("é", 40)
	c := newStatsCollector(s, nil, StatsColumns{Num: DefaultStatsColumns})
	d1, _ := ConvertValue(s.Fields[4].Type, "1.50")
	d2, _ := ConvertValue(s.Fields[4].Type, "-3")
	c.add(Row{int64(1767225600123456), 1.0, 2.0, "b", d1, true})
	c.add(Row{int64(1767225600999999), nil, nanValue(), long, d2, false})
	c.add(Row{nil, 3.0, 1.0, "a", nil, nil})
	var st map[string]any
	if err := json.Unmarshal([]byte(c.result().JSON()), &st); err != nil {
		t.Fatalf("stats are not valid JSON (NaN leaked?): %v", err)
	}
	minV, maxV, nulls := st["minValues"].(map[string]any), st["maxValues"].(map[string]any), st["nullCount"].(map[string]any)
	if st["numRecords"].(float64) != 3 {
		t.Fatalf("numRecords = %v", st["numRecords"])
	}
	if minV["ts"] != "2026-01-01T00:00:00.123Z" || maxV["ts"] != "2026-01-01T00:00:00.999Z" {
		t.Fatalf("timestamp bounds %v %v: want UTC, exactly 3 fractional digits, truncated", minV["ts"], maxV["ts"])
	}
	if minV["x"] != 1.0 || maxV["x"] != 3.0 || nulls["x"] != 1.0 {
		t.Fatalf("x stats: %v %v %v", minV["x"], maxV["x"], nulls["x"])
	}
	if _, ok := minV["y"]; ok {
		t.Fatal("y had a NaN: min/max must be omitted")
	}
	if minV["s"] != "a" || !strings.HasPrefix(maxV["s"].(string), strings.Repeat("é", 32)) || maxV["s"] == long {
		t.Fatalf("string bounds: %q %q", minV["s"], maxV["s"])
	}
	if maxV["s"].(string) <= long {
		t.Fatal("truncated max string is not an upper bound")
	}
	if minV["d"] != -3.0 || maxV["d"] != 1.5 {
		t.Fatalf("decimal bounds %v %v", minV["d"], maxV["d"])
	}
	if _, ok := minV["b"]; ok || nulls["b"] != 1.0 {
		t.Fatalf("boolean: min present=%v nullCount=%v", ok, nulls["b"])
	}
	// Only the first N columns get stats.
	c2 := newStatsCollector(s, nil, StatsColumns{Num: 2})
	c2.add(Row{int64(0), 1.0, 1.0, "a", d1, true})
	if r := c2.result(); len(r.NullCount) != 2 {
		t.Fatalf("stats for %d columns, want the first 2", len(r.NullCount))
	}
	// delta.dataSkippingStatsColumns names the columns exactly.
	sc := statsColumns(map[string]string{PropStatsColumns: "s, `d`"})
	c3 := newStatsCollector(s, nil, sc)
	c3.add(Row{int64(0), 1.0, 1.0, "a", d1, true})
	if r := c3.result(); len(r.NullCount) != 2 || r.NullCount["s"] == nil || r.NullCount["d"] == nil {
		t.Fatalf("stats columns %v, want exactly s and d", r.NullCount)
	}
}

func nanValue() float64 {
	var z float64
	return z / z
}

func TestPartitionEscaping(t *testing.T) {
	v := "a%b:c d/é"
	dir := PartitionDir([]string{"city"}, map[string]*string{"city": &v})
	if dir != "city=a%25b%3Ac d%2Fé" {
		t.Fatalf("hive dir = %q", dir)
	}
	enc := EncodePath(dir + "/part-0.parquet")
	if !strings.HasPrefix(enc, "city=a%2525b%253Ac%20d%252F") {
		t.Fatalf("add.path = %q: the '%%' of Hive escaping must be URI-encoded again", enc)
	}
	dec, err := DecodePath(enc)
	if err != nil || dec != dir+"/part-0.parquet" {
		t.Fatalf("decode = %q, %v", dec, err)
	}
	if d := PartitionDir([]string{"day"}, map[string]*string{"day": nil}); d != "day="+HiveDefaultPartition {
		t.Fatalf("null dir = %q", d)
	}
	ts := PartitionValue(Type{Name: "timestamp"}, int64(1767225600123456))
	if *ts != "2026-01-01T00:00:00.123456Z" {
		t.Fatalf("timestamp partition value %q", *ts)
	}
	day := PartitionValue(Type{Name: "date"}, int32(20454))
	if *day != "2026-01-01" {
		t.Fatalf("date partition value %q", *day)
	}
	back, err := ParsePartitionValue(Type{Name: "date"}, day)
	if err != nil || back.(int32) != 20454 {
		t.Fatalf("parse back %v %v", back, err)
	}
	if PartitionValue(Type{Name: "string"}, "") != nil {
		t.Fatal("empty string partition value must be null")
	}
}

func TestConflictChecker(t *testing.T) {
	rs := ReadSet{AppIDs: []string{"app"}, RemovedPaths: []string{"a.parquet"}}
	cases := []struct {
		name     string
		winner   []Action
		conflict bool
	}{
		{"blind append", []Action{{Add: &Add{Path: "x.parquet"}}}, false},
		{"other app txn", []Action{{Txn: &Txn{AppID: "other", Version: 3}}, {Add: &Add{Path: "y"}}}, false},
		{"compaction of other files", []Action{{Remove: &Remove{Path: "b.parquet"}}, {Add: &Add{Path: "c"}}}, false},
		{"same app txn", []Action{{Txn: &Txn{AppID: "app", Version: 3}}}, true},
		{"protocol", []Action{{Protocol: &Protocol{MinReaderVersion: 1, MinWriterVersion: 3}}}, true},
		{"metadata", []Action{{MetaData: &Metadata{ID: "x"}}}, true},
		{"our file removed", []Action{{Remove: &Remove{Path: "a.parquet"}}}, true},
	}
	for _, c := range cases {
		err := CheckConflict(5, c.winner, rs)
		if (err != nil) != c.conflict {
			t.Errorf("%s: conflict = %v, want %v", c.name, err, c.conflict)
		}
	}
}

func TestCheckProtocol(t *testing.T) {
	ok := []Protocol{{1, 1, nil, nil}, {1, 2, nil, nil}, {1, 7, nil, []string{"appendOnly"}}}
	bad := []Protocol{{2, 5, nil, nil}, {1, 4, nil, nil}, {3, 7, []string{"deletionVectors"}, []string{"deletionVectors"}}, {1, 7, nil, []string{"appendOnly", "invariants", "checkConstraints"}}}
	for _, p := range ok {
		if err := CheckProtocol(p); err != nil {
			t.Errorf("%+v refused: %v", p, err)
		}
	}
	for _, p := range bad {
		if err := CheckProtocol(p); err == nil {
			t.Errorf("%+v accepted", p)
		}
	}
}
