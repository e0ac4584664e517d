package webhook

import (
	"encoding/json"
	"errors"
	"fmt"
	"unicode/utf8"

	"github.com/open-policy-agent/opa/v1/ast"
)

// errTrailingData is a body with something after its JSON value.
var errTrailingData = errors.New("trailing data after the JSON value")

// maxDepth bounds nesting as encoding/json does, so a hostile body cannot
// exhaust the stack.
const maxDepth = 10000

// parseJSON reads one JSON value straight into the policy input's form.
// The review is parsed once per request, and going through map[string]any
// first (encoding/json, then ast.InterfaceToValue) cost as much as a fifth
// of an admission: a second copy of every string, map and slice, all garbage
// at once. It accepts exactly what encoding/json does; numbers keep their
// text (as json.Number does), invalid UTF-8 becomes U+FFFD, and of duplicate
// keys the last wins.
func parseJSON(data []byte) (ast.Value, error) {
	p := jsonParser{data: data}
	p.space()
	v, err := p.value(0)
	if err != nil {
		return nil, err
	}
	p.space()
	if p.pos != len(p.data) {
		return nil, errTrailingData
	}
	return v, nil
}

type jsonParser struct {
	data []byte
	pos  int
	// pairs is a stack of the key/value pairs of the objects being read:
	// each object's pairs sit on top until NewObject copies them, so one
	// slice serves every object of the document.
	pairs [][2]*ast.Term
}

func (p *jsonParser) errorf(format string, args ...any) error {
	return fmt.Errorf("offset %d: %s", p.pos, fmt.Sprintf(format, args...))
}

func (p *jsonParser) space() {
	for p.pos < len(p.data) {
		switch p.data[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

func (p *jsonParser) value(depth int) (ast.Value, error) {
	if depth > maxDepth {
		return nil, p.errorf("nested more than %d levels deep", maxDepth)
	}
	if p.pos >= len(p.data) {
		return nil, p.errorf("unexpected end of JSON input")
	}
	switch c := p.data[p.pos]; {
	case c == '{':
		return p.object(depth)
	case c == '[':
		return p.array(depth)
	case c == '"':
		s, err := p.string()
		if err != nil {
			return nil, err
		}
		return ast.String(s), nil
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	}
	for _, lit := range []struct {
		text  string
		value ast.Value
	}{{"true", ast.Boolean(true)}, {"false", ast.Boolean(false)}, {"null", ast.Null{}}} {
		if len(p.data)-p.pos >= len(lit.text) && string(p.data[p.pos:p.pos+len(lit.text)]) == lit.text {
			p.pos += len(lit.text)
			return lit.value, nil
		}
	}
	return nil, p.errorf("invalid character %q looking for the beginning of a value", p.data[p.pos])
}

func (p *jsonParser) object(depth int) (ast.Value, error) {
	p.pos++ // {
	base := len(p.pairs)
	defer func() { p.pairs = p.pairs[:base] }()
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == '}' {
		p.pos++
		return ast.NewObject(), nil
	}
	for {
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != '"' {
			return nil, p.errorf("expected a string key in an object")
		}
		key, err := p.string()
		if err != nil {
			return nil, err
		}
		p.space()
		if p.pos >= len(p.data) || p.data[p.pos] != ':' {
			return nil, p.errorf("expected ':' after an object key")
		}
		p.pos++
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		p.pairs = append(p.pairs, [2]*ast.Term{ast.StringTerm(key), ast.NewTerm(v)})
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of JSON input in an object")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case '}':
			p.pos++
			return newObject(p.pairs[base:]), nil
		default:
			return nil, p.errorf("expected ',' or '}' after an object value")
		}
	}
}

// newObject builds an object in one block (ast.NewObject), unless a key
// repeats: NewObject would keep both, and encoding/json keeps the last, which
// Insert does.
func newObject(pairs [][2]*ast.Term) ast.Object {
	if !hasDuplicateKey(pairs) {
		return ast.NewObject(pairs...)
	}
	obj := ast.NewObjectWithCapacity(len(pairs))
	for _, kv := range pairs {
		obj.Insert(kv[0], kv[1])
	}
	return obj
}

func hasDuplicateKey(pairs [][2]*ast.Term) bool {
	if len(pairs) > 16 {
		seen := make(map[ast.String]bool, len(pairs))
		for _, kv := range pairs {
			k := kv[0].Value.(ast.String)
			if seen[k] {
				return true
			}
			seen[k] = true
		}
		return false
	}
	for i := range pairs {
		for j := range i {
			if pairs[i][0].Value.(ast.String) == pairs[j][0].Value.(ast.String) {
				return true
			}
		}
	}
	return false
}

func (p *jsonParser) array(depth int) (ast.Value, error) {
	p.pos++ // [
	var elems []*ast.Term
	p.space()
	if p.pos < len(p.data) && p.data[p.pos] == ']' {
		p.pos++
		return ast.NewArray(), nil
	}
	for {
		p.space()
		v, err := p.value(depth + 1)
		if err != nil {
			return nil, err
		}
		elems = append(elems, ast.NewTerm(v))
		p.space()
		if p.pos >= len(p.data) {
			return nil, p.errorf("unexpected end of JSON input in an array")
		}
		switch p.data[p.pos] {
		case ',':
			p.pos++
		case ']':
			p.pos++
			return ast.NewArray(elems...), nil
		default:
			return nil, p.errorf("expected ',' or ']' after an array element")
		}
	}
}

// string reads a quoted string. Plain strings (no escape, valid UTF-8, the
// usual case) are sliced out; others are left to encoding/json.
func (p *jsonParser) string() (string, error) {
	start := p.pos
	p.pos++ // "
	plain := true
	for p.pos < len(p.data) {
		switch c := p.data[p.pos]; {
		case c == '"':
			p.pos++
			raw := p.data[start:p.pos]
			if plain && utf8.Valid(raw) {
				return string(raw[1 : len(raw)-1]), nil
			}
			var s string
			if err := json.Unmarshal(raw, &s); err != nil {
				return "", p.errorf("invalid string: %v", err)
			}
			return s, nil
		case c == '\\':
			plain = false
			p.pos += 2 // the escaped character cannot end the string
		case c < 0x20:
			return "", p.errorf("invalid control character in a string")
		default:
			p.pos++
		}
	}
	return "", p.errorf("unexpected end of JSON input in a string")
}

// number checks the JSON number grammar and keeps the number's text.
func (p *jsonParser) number() (ast.Value, error) {
	start := p.pos
	if p.data[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.data) && p.data[p.pos] >= '0' && p.data[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	switch {
	case p.pos < len(p.data) && p.data[p.pos] == '0':
		p.pos++
	case digits() == 0:
		return nil, p.errorf("invalid number")
	}
	if p.pos < len(p.data) && p.data[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.errorf("invalid number: no digit after '.'")
		}
	}
	if p.pos < len(p.data) && (p.data[p.pos] == 'e' || p.data[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.data) && (p.data[p.pos] == '+' || p.data[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.errorf("invalid number: no digit in the exponent")
		}
	}
	return ast.Number(p.data[start:p.pos]), nil
}
