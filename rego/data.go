package rego

import (
	"fmt"
	"os"
	"reflect"
	"strings"

	"github.com/budgetgate/budgetgate/manifest"
)

// ReadData reads data documents (YAML or JSON objects, as --data names them)
// and merges them at the data root. Two files that set one key to different
// values are an error naming both: silently keeping either would lose data.
// Setting one key to the same value in two files is no conflict.
func ReadData(paths []string) (map[string]any, error) {
	merged := map[string]any{}
	origin := map[string]string{} // key path -> file that set it
	for _, p := range paths {
		text, err := os.ReadFile(p)
		if err != nil {
			return nil, &manifest.Error{File: p, Err: err}
		}
		docs, err := manifest.Decode(p, text)
		if err != nil {
			return nil, err
		}
		if len(docs) != 1 {
			return nil, &manifest.Error{File: p, Err: fmt.Errorf("a data file holds one object, this one holds %d documents", len(docs))}
		}
		if err := merge(merged, docs[0].Object, nil, p, origin); err != nil {
			return nil, err
		}
	}
	return merged, nil
}

func merge(dst, src map[string]any, path []string, file string, origin map[string]string) error {
	for k, v := range src {
		keyPath := append(append([]string{}, path...), k)
		key := strings.Join(keyPath, ".")
		old, exists := dst[k]
		if !exists {
			dst[k] = v
			origin[key] = file
			continue
		}
		oldObj, ok1 := old.(map[string]any)
		newObj, ok2 := v.(map[string]any)
		if ok1 && ok2 {
			if err := merge(oldObj, newObj, keyPath, file, origin); err != nil {
				return err
			}
			continue
		}
		if reflect.DeepEqual(old, v) {
			continue // the same value twice loses nothing
		}
		return &manifest.Error{File: file, Err: fmt.Errorf("data key %s is also set by %s: set each key in one data file", key, originOf(origin, keyPath))}
	}
	return nil
}

// originOf finds the file that set keyPath or one of its parents.
func originOf(origin map[string]string, keyPath []string) string {
	for i := len(keyPath); i > 0; i-- {
		if f, ok := origin[strings.Join(keyPath[:i], ".")]; ok {
			return f
		}
	}
	return "another file"
}
