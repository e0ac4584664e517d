package webhook

import (
	"bytes"
	"encoding/json"
	"os"
	"reflect"
	"strings"
	"testing"

	"github.com/open-policy-agent/opa/v1/ast"
)

// parseJSON must give the policies what the generic route gave them
// (encoding/json with UseNumber, then ast.InterfaceToValue), and accept
// exactly the JSON encoding/json accepts.
func TestParseJSONAgreesWithEncodingJSON(t *testing.T) {
	review, err := os.ReadFile("../rego/testdata/deployment-review.json")
	if err != nil {
		t.Fatal(err)
	}
	valid := []string{
		string(review),
		`{}`, `[]`, `""`, `0`, `-0`, `1.5e-3`, `-12.25E+2`, `123456789012345678901234567890`,
		`true`, `false`, `null`, ` { "a" : [ 1 , {"b":null} ] } `,
		`"esc: \" \\ \/ \b \f \n \r \t \u00e9 \ud83d\ude00"`,
		"\"invalid utf-8: \xff\xfe\"",
		`{"dup":1,"dup":2}`,
		`{"a":1,"b":2,"c":3,"d":4,"e":5,"f":6,"g":7,"h":8,"i":9,"j":10,"k":11,"l":12,"m":13,"n":14,"o":15,"p":16,"q":17,"a":0}`,
		`{"a":{"x":1,"x":{"y":1,"y":2}},"b":[{"z":1},{"z":2,"z":3}]}`,
		`{"nested":{"deep":[[[["x"]]]]}}`,
	}
	for _, text := range valid {
		got, err := parseJSON([]byte(text))
		if err != nil {
			t.Errorf("%.60s: %v", text, err)
			continue
		}
		var doc any
		dec := json.NewDecoder(strings.NewReader(text))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatalf("%.60s: encoding/json: %v", text, err)
		}
		want, err := ast.InterfaceToValue(doc)
		if err != nil {
			t.Fatal(err)
		}
		if got.Compare(want) != 0 {
			t.Errorf("%.60s: got %v, want %v", text, got, want)
		}
	}
	invalid := []string{
		``, ` `, `{`, `[`, `{"a"}`, `{"a":}`, `{"a":1,}`, `[1,]`, `[1 2]`, `{a:1}`, `'x'`,
		`01`, `1.`, `.5`, `-`, `1e`, `1e+`, `+1`, `tru`, `nul`, `"unterminated`, `"\x"`, `"\u12"`,
		"\"control \x01 char\"", `{"a":1}}`, `[]x`, strings.Repeat("[", maxDepth+2) + strings.Repeat("]", maxDepth+2),
	}
	for _, text := range invalid {
		if _, err := parseJSON([]byte(text)); err == nil {
			t.Errorf("%.60q: accepted, encoding/json refuses it", text)
		}
		if json.Valid([]byte(text)) && !bytes.Contains([]byte(text), []byte("[[[[")) {
			t.Errorf("%.60q: the test is wrong, encoding/json accepts it", text)
		}
	}
}

// BenchmarkDecodeReview is the webhook's decoding of the benchmark review
// into the policy input: direct (parseJSON) beside the generic route it
// replaced (encoding/json into map[string]any, then ast.InterfaceToValue).
func BenchmarkDecodeReview(b *testing.B) {
	body, err := os.ReadFile("../rego/testdata/deployment-review.json")
	if err != nil {
		b.Fatal(err)
	}
	b.Run("direct", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := parseJSON(body); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("generic", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			var doc any
			dec := json.NewDecoder(bytes.NewReader(body))
			dec.UseNumber()
			if err := dec.Decode(&doc); err != nil {
				b.Fatal(err)
			}
			if _, err := ast.InterfaceToValue(doc); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// FuzzParseJSON holds parseJSON to encoding/json on any input: the same
// acceptance and, when accepted, the same value. The seeds run with every
// `go test`; `go test -fuzz FuzzParseJSON ./webhook/` explores further.
func FuzzParseJSON(f *testing.F) {
	review, err := os.ReadFile("../rego/testdata/deployment-review.json")
	if err != nil {
		f.Fatal(err)
	}
	for _, seed := range []string{string(review), `{"a":[1,2.5e3,"x\u00e9",null,true]}`, `{"dup":1,"dup":2}`, "\"\xff\"", `[1,]`, `01`} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		got, err := parseJSON(data)
		valid := json.Valid(data)
		if (err == nil) != valid {
			t.Fatalf("%q: parseJSON error %v, encoding/json valid %v", data, err, valid)
		}
		if err != nil {
			return
		}
		var doc any
		dec := json.NewDecoder(bytes.NewReader(data))
		dec.UseNumber()
		if err := dec.Decode(&doc); err != nil {
			t.Fatal(err)
		}
		// Compared as Go values: ast's Compare turns number text with a huge
		// exponent into big numbers, which is slow and not what is checked.
		back, err := ast.JSON(got)
		if err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(back, doc) {
			t.Fatalf("%q: got %v, want %v", data, back, doc)
		}
	})
}
