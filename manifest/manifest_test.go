package manifest_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/budgetgate/budgetgate/manifest"
)

// want is one expected document: where it starts and its kind/name.
type want struct {
	line int
	name string
}

func names(docs []manifest.Document) []want {
	out := make([]want, len(docs))
	for i, d := range docs {
		out[i] = want{line: d.Line, name: d.Name()}
	}
	return out
}

func equalWants(a, b []want) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestDecode(t *testing.T) {
	tests := []struct {
		name string
		text string
		want []want
	}{
		{
			name: "single document",
			text: "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: a\n",
			want: []want{{1, "ConfigMap a"}},
		},
		{
			name: "multi-document start lines",
			text: "kind: ConfigMap\nmetadata:\n  name: a\n---\nkind: Secret\nmetadata:\n  name: b\n  namespace: ns\n---\nkind: Service\nmetadata: {name: c}\n",
			want: []want{{1, "ConfigMap a"}, {5, "Secret ns/b"}, {10, "Service c"}},
		},
		{
			name: "leading separator and empty documents skipped",
			text: "---\n---\n\n---\n# only a comment\n---\nkind: A\nmetadata: {name: a}\n---\n---\nkind: B\nmetadata: {name: b}\n---\n",
			want: []want{{7, "A a"}, {11, "B b"}},
		},
		{
			name: "separator with a comment",
			text: "kind: A\nmetadata: {name: a}\n--- # second\nkind: B\nmetadata: {name: b}\n---\t# tab then comment\nkind: C\nmetadata: {name: c}\n",
			want: []want{{1, "A a"}, {4, "B b"}, {7, "C c"}},
		},
		{
			name: "CRLF line endings",
			text: "kind: A\r\nmetadata: {name: a}\r\n---\r\nkind: B\r\nmetadata: {name: b}\r\n",
			want: []want{{1, "A a"}, {4, "B b"}},
		},
		{
			name: "kind List expanded, items get the List's line",
			text: "kind: A\nmetadata: {name: a}\n---\napiVersion: v1\nkind: List\nitems:\n- kind: B\n  metadata: {name: b}\n- kind: C\n  metadata: {name: c, namespace: x}\n",
			want: []want{{1, "A a"}, {4, "B b"}, {4, "C x/c"}},
		},
		{
			name: "empty List gives no document",
			text: "apiVersion: v1\nkind: List\nitems: []\n",
			want: []want{},
		},
		{
			name: "JSON",
			text: "{\n\t\"apiVersion\": \"v1\",\n\t\"kind\": \"ConfigMap\",\n\t\"metadata\": {\"name\": \"j\"}\n}\n",
			want: []want{{1, "ConfigMap j"}},
		},
		{
			name: "JSON List",
			text: `{"kind": "List", "items": [{"kind": "A", "metadata": {"name": "a"}}, {"kind": "B", "metadata": {"name": "b"}}]}`,
			want: []want{{1, "A a"}, {1, "B b"}},
		},
		{
			name: "empty file",
			text: "",
			want: []want{},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := manifest.Decode("f.yaml", []byte(tt.text))
			if err != nil {
				t.Fatalf("Decode: %v", err)
			}
			if got := names(docs); !equalWants(got, tt.want) {
				t.Errorf("documents = %v, want %v", got, tt.want)
			}
			for _, d := range docs {
				if d.File != "f.yaml" {
					t.Errorf("File = %q, want f.yaml", d.File)
				}
			}
		})
	}
}

func TestDecodeValues(t *testing.T) {
	docs, err := manifest.Decode("f.yaml", []byte("kind: A\nspec:\n  replicas: 3\n  ratio: 0.5\n  enabled: yes\n  tag: \"1.10\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	spec := docs[0].Object["spec"].(map[string]any)
	if got := spec["replicas"]; got == nil || got.(interface{ String() string }).String() != "3" {
		t.Errorf("replicas = %#v, want the number 3", got)
	}
	if got := spec["tag"]; got != "1.10" {
		t.Errorf("tag = %#v, want the string 1.10", got)
	}
	// YAML 1.1, as kubectl reads it: yes is a boolean.
	if got := spec["enabled"]; got != true {
		t.Errorf("enabled = %#v, want true (as kubectl reads YAML)", got)
	}
}

func TestDecodeErrors(t *testing.T) {
	tests := []struct {
		name     string
		text     string
		line     int
		contains string
	}{
		{
			name:     "mapping values error on line 7 of the file, in the 2nd document",
			text:     "kind: A\nmetadata:\n  name: a\n---\nkind: B\nmetadata:\n  name: b: c\n",
			line:     7,
			contains: "invalid YAML",
		},
		{
			name:     "tab indentation on line 6, 2nd document after a commented separator",
			text:     "kind: A\n--- # next\nkind: B\nmetadata:\n  name: b\n\tlabels: {}\n",
			line:     6,
			contains: "invalid YAML",
		},
		{
			name:     "unclosed flow mapping on line 5",
			text:     "kind: A\n---\n---\nkind: B\nmetadata: {name: b\n",
			line:     5,
			contains: "invalid YAML",
		},
		{
			name:     "document is a list",
			text:     "kind: A\n---\n- a\n- b\n",
			line:     3,
			contains: "a list",
		},
		{
			name:     "document is a scalar",
			text:     "kind: A\n---\n---\njust a string\n",
			line:     4,
			contains: "a string",
		},
		{
			name:     "document is a number",
			text:     "42\n",
			line:     1,
			contains: "a number",
		},
		{
			name:     "List item that is not an object",
			text:     "kind: A\n---\nkind: List\nitems:\n- kind: B\n- oops\n",
			line:     3,
			contains: "items[1]",
		},
		{
			name:     "content after a separator",
			text:     "kind: A\n--- {kind: B}\n",
			line:     2,
			contains: "separator",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := manifest.Decode("dir/f.yaml", []byte(tt.text))
			if err == nil {
				t.Fatalf("Decode = %v, want an error", names(docs))
			}
			var me *manifest.Error
			if !errors.As(err, &me) {
				t.Fatalf("error %T %v is not a *manifest.Error", err, err)
			}
			if me.File != "dir/f.yaml" || me.Line != tt.line {
				t.Errorf("error at %s:%d, want dir/f.yaml:%d (%v)", me.File, me.Line, tt.line, err)
			}
			if !strings.HasPrefix(err.Error(), "dir/f.yaml:") || !strings.Contains(err.Error(), tt.contains) {
				t.Errorf("error %q: want it to start with the file and contain %q", err, tt.contains)
			}
		})
	}
}

func writeFile(t *testing.T, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

func obj(kind, name string) string {
	return "kind: " + kind + "\nmetadata:\n  name: " + name + "\n"
}

func TestRead(t *testing.T) {
	dir := t.TempDir()
	tree := filepath.Join(dir, "tree")
	writeFile(t, filepath.Join(tree, "b.yaml"), obj("B", "b"))
	writeFile(t, filepath.Join(tree, "a.yml"), obj("A", "a")+"---\n"+obj("A", "a2"))
	writeFile(t, filepath.Join(tree, "c.json"), `{"kind": "C", "metadata": {"name": "c"}}`)
	writeFile(t, filepath.Join(tree, "D.YAML"), obj("D", "d"))
	writeFile(t, filepath.Join(tree, "sub", "e.yaml"), obj("E", "e"))
	writeFile(t, filepath.Join(tree, "notes.txt"), "not: read\n")
	writeFile(t, filepath.Join(tree, "README.md"), "# not read\n")
	writeFile(t, filepath.Join(tree, "kustomization.yaml.bak"), "not: read\n")
	single := filepath.Join(dir, "single.yaml")
	writeFile(t, single, obj("S", "s"))
	empty := filepath.Join(dir, "empty")
	if err := os.MkdirAll(empty, 0o755); err != nil {
		t.Fatal(err)
	}
	onlyOther := filepath.Join(dir, "other")
	writeFile(t, filepath.Join(onlyOther, "x.txt"), "x: 1\n")

	type doc struct{ file, name string }
	tests := []struct {
		name    string
		paths   []string
		stdin   string
		want    []doc
		errFile string // the file an error must name, "" for no error
	}{
		{
			name:  "folder in lexical order, only .yaml .yml .json, recursive",
			paths: []string{tree},
			want: []doc{
				{filepath.Join(tree, "D.YAML"), "D d"},
				{filepath.Join(tree, "a.yml"), "A a"},
				{filepath.Join(tree, "a.yml"), "A a2"},
				{filepath.Join(tree, "b.yaml"), "B b"},
				{filepath.Join(tree, "c.json"), "C c"},
				{filepath.Join(tree, "sub", "e.yaml"), "E e"},
			},
		},
		{
			name:  "paths in the order given",
			paths: []string{single, filepath.Join(tree, "b.yaml")},
			want:  []doc{{single, "S s"}, {filepath.Join(tree, "b.yaml"), "B b"}},
		},
		{
			name:  "a file given by name is read whatever its extension",
			paths: []string{filepath.Join(tree, "notes.txt")},
			want:  []doc{{filepath.Join(tree, "notes.txt"), " "}},
		},
		{
			name:  "dash reads stdin",
			paths: []string{"-"},
			stdin: obj("P", "p") + "---\n" + obj("Q", "q"),
			want:  []doc{{"-", "P p"}, {"-", "Q q"}},
		},
		{
			name:  "stdin among files",
			paths: []string{single, "-"},
			stdin: obj("P", "p"),
			want:  []doc{{single, "S s"}, {"-", "P p"}},
		},
		{
			name:    "empty folder",
			paths:   []string{empty},
			errFile: empty,
		},
		{
			name:    "folder without manifests",
			paths:   []string{onlyOther},
			errFile: onlyOther,
		},
		{
			name:    "missing file",
			paths:   []string{single, filepath.Join(dir, "missing.yaml")},
			errFile: filepath.Join(dir, "missing.yaml"),
		},
		{
			name:    "invalid YAML on stdin",
			paths:   []string{"-"},
			stdin:   "kind: A\nmetadata: {name: a\n",
			errFile: "-",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			docs, err := manifest.Read(tt.paths, strings.NewReader(tt.stdin))
			if tt.errFile != "" {
				if err == nil {
					t.Fatalf("Read = %d documents, want an error naming %s", len(docs), tt.errFile)
				}
				var me *manifest.Error
				if !errors.As(err, &me) || me.File != tt.errFile {
					t.Fatalf("error %v (%T), want a *manifest.Error naming %s", err, err, tt.errFile)
				}
				if !strings.Contains(err.Error(), tt.errFile) {
					t.Errorf("message %q does not name %s", err, tt.errFile)
				}
				return
			}
			if err != nil {
				t.Fatalf("Read: %v", err)
			}
			got := make([]doc, len(docs))
			for i, d := range docs {
				got[i] = doc{d.File, d.Name()}
			}
			if len(got) != len(tt.want) {
				t.Fatalf("documents = %v, want %v", got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Errorf("document %d = %v, want %v", i, got[i], tt.want[i])
				}
			}
		})
	}
}

func TestReadUnreadableFile(t *testing.T) {
	dir := t.TempDir()
	f := filepath.Join(dir, "secret.yaml")
	writeFile(t, f, obj("A", "a"))
	if err := os.Chmod(f, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := os.ReadFile(f); err == nil {
		t.Skip("running with privileges that read a mode 000 file")
	}
	for _, path := range []string{f, dir} {
		_, err := manifest.Read([]string{path}, nil)
		var me *manifest.Error
		if !errors.As(err, &me) || me.File != f || !strings.Contains(err.Error(), "secret.yaml") {
			t.Errorf("Read(%s) error = %v, want a *manifest.Error naming %s", path, err, f)
		}
	}
}

func TestErrorMessage(t *testing.T) {
	inner := errors.New("boom")
	tests := []struct {
		err  *manifest.Error
		want string
	}{
		{&manifest.Error{File: "a.yaml", Line: 3, Err: inner}, "a.yaml:3: boom"},
		{&manifest.Error{File: "a.yaml", Err: inner}, "a.yaml: boom"},
	}
	for _, tt := range tests {
		if got := tt.err.Error(); got != tt.want {
			t.Errorf("Error() = %q, want %q", got, tt.want)
		}
		if !errors.Is(tt.err, inner) {
			t.Errorf("%v does not unwrap to its cause", tt.err)
		}
	}
}
