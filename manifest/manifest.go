// Package manifest reads Kubernetes manifests from YAML and JSON files the
// way kubectl and conftest do: every document of a multi-document file, a
// `kind: List` expanded into its items, errors with file and line.
package manifest

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"sigs.k8s.io/yaml"
)

// Document is one object read from a file.
type Document struct {
	// File is the path as the user gave it (or found it below a folder).
	File string
	// Line is where the document starts in File, from 1.
	Line int
	// Object is the decoded object, JSON-compatible.
	Object map[string]any
}

// Name is "Kind namespace/name" (or "Kind name") for messages.
func (d Document) Name() string {
	kind, _ := d.Object["kind"].(string)
	meta, _ := d.Object["metadata"].(map[string]any)
	name, _ := meta["name"].(string)
	if ns, _ := meta["namespace"].(string); ns != "" {
		return kind + " " + ns + "/" + name
	}
	return kind + " " + name
}

// Error is bad input: a file that cannot be read or parsed.
type Error struct {
	File string
	Line int // 0 when the whole file is at fault
	Err  error
}

func (e *Error) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: %v", e.File, e.Line, e.Err)
	}
	return fmt.Sprintf("%s: %v", e.File, e.Err)
}

func (e *Error) Unwrap() error { return e.Err }

// Extensions are the file endings read below a folder.
var Extensions = []string{".yaml", ".yml", ".json"}

// Read reads every document of the given files and folders, in the order
// given and, within a folder, in lexical order. "-" reads standard input.
func Read(paths []string, stdin io.Reader) ([]Document, error) {
	var docs []Document
	for _, p := range paths {
		files, err := expand(p)
		if err != nil {
			return nil, err
		}
		for _, f := range files {
			var data []byte
			if f == "-" {
				data, err = io.ReadAll(stdin)
			} else {
				data, err = os.ReadFile(f)
			}
			if err != nil {
				return nil, &Error{File: f, Err: err}
			}
			found, err := Decode(f, data)
			if err != nil {
				return nil, err
			}
			docs = append(docs, found...)
		}
	}
	return docs, nil
}

func expand(p string) ([]string, error) {
	if p == "-" {
		return []string{p}, nil
	}
	info, err := os.Stat(p)
	if err != nil {
		return nil, &Error{File: p, Err: err}
	}
	if !info.IsDir() {
		return []string{p}, nil
	}
	var files []string
	err = filepath.WalkDir(p, func(name string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() && hasExtension(name) {
			files = append(files, name)
		}
		return nil
	})
	if err != nil {
		return nil, &Error{File: p, Err: err}
	}
	if len(files) == 0 {
		return nil, &Error{File: p, Err: fmt.Errorf("no %s files in this folder", strings.Join(Extensions, ", "))}
	}
	sort.Strings(files)
	return files, nil
}

func hasExtension(name string) bool {
	ext := strings.ToLower(filepath.Ext(name))
	for _, e := range Extensions {
		if ext == e {
			return true
		}
	}
	return false
}

// Decode reads the documents of one file's content. YAML is converted as
// kubectl converts it (sigs.k8s.io/yaml), so values mean what they mean to
// the API server; JSON is YAML too.
func Decode(file string, data []byte) ([]Document, error) {
	var docs []Document
	chunks, err := split(file, data)
	if err != nil {
		return nil, err
	}
	for _, chunk := range chunks {
		j, err := yaml.YAMLToJSON(chunk.text)
		if err != nil {
			return nil, yamlError(file, chunk.line, err)
		}
		var v any
		dec := json.NewDecoder(bytes.NewReader(j))
		dec.UseNumber()
		if err := dec.Decode(&v); err != nil {
			return nil, &Error{File: file, Line: chunk.line, Err: err}
		}
		if v == nil {
			continue // an empty document, as between two "---"
		}
		obj, ok := v.(map[string]any)
		if !ok {
			return nil, &Error{File: file, Line: chunk.line, Err: fmt.Errorf("the document is %s, not an object: a manifest is a mapping with apiVersion and kind", describe(v))}
		}
		if items, isList := listItems(obj); isList {
			for i, item := range items {
				o, ok := item.(map[string]any)
				if !ok {
					return nil, &Error{File: file, Line: chunk.line, Err: fmt.Errorf("items[%d] of the List is %s, not an object", i, describe(item))}
				}
				docs = append(docs, Document{File: file, Line: chunk.line, Object: o})
			}
			continue
		}
		docs = append(docs, Document{File: file, Line: chunk.line, Object: obj})
	}
	return docs, nil
}

// listItems recognises a v1 List (kubectl get -o yaml) and its items.
func listItems(obj map[string]any) ([]any, bool) {
	kind, _ := obj["kind"].(string)
	if kind != "List" {
		return nil, false
	}
	items, _ := obj["items"].([]any)
	return items, true
}

type chunk struct {
	text []byte
	line int
}

// split cuts a YAML stream at "---" lines, keeping where each document starts.
// As in kubectl, only a comment may follow "---" on its line: YAML allows a
// document to start there ("--- {kind: Pod}"), but cutting the stream by lines
// would silently drop it.
func split(file string, data []byte) ([]chunk, error) {
	var out []chunk
	var cur bytes.Buffer
	start, n := 1, 0
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(make([]byte, 0, 64*1024), len(data)+1)
	for sc.Scan() {
		n++
		line := sc.Text()
		if line == "---" || strings.HasPrefix(line, "--- ") || strings.HasPrefix(line, "---\t") {
			if rest := strings.TrimSpace(line[3:]); rest != "" && !strings.HasPrefix(rest, "#") {
				return nil, &Error{File: file, Line: n, Err: fmt.Errorf("invalid YAML document separator: only a comment may follow \"---\" on its line, start the document %q on the next line", rest)}
			}
			out = append(out, chunk{text: bytes.Clone(cur.Bytes()), line: start})
			cur.Reset()
			start = n + 1
			continue
		}
		cur.WriteString(line)
		cur.WriteByte('\n')
	}
	return append(out, chunk{text: cur.Bytes(), line: start}), nil
}

var yamlLine = regexp.MustCompile(`^(?:error converting YAML to JSON: )?yaml: line (\d+): (.*)$`)

// yamlError turns the YAML library's document-relative line into the file's.
func yamlError(file string, start int, err error) error {
	if m := yamlLine.FindStringSubmatch(err.Error()); m != nil {
		n, _ := strconv.Atoi(m[1])
		return &Error{File: file, Line: start + n - 1, Err: fmt.Errorf("invalid YAML: %s", m[2])}
	}
	msg := strings.TrimPrefix(err.Error(), "error converting YAML to JSON: ")
	return &Error{File: file, Line: start, Err: fmt.Errorf("invalid YAML: %s", msg)}
}

func describe(v any) string {
	switch v.(type) {
	case []any:
		return "a list"
	case string:
		return "a string"
	case json.Number:
		return "a number"
	case bool:
		return "a boolean"
	}
	return fmt.Sprintf("%T", v)
}
