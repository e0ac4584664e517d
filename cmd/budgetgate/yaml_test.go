package main

import (
	"fmt"

	"github.com/budgetgate/budgetgate/manifest"
)

func decodeYAMLForTest(b []byte) (map[string]any, error) {
	docs, err := manifest.Decode("test.yaml", b)
	if err != nil {
		return nil, err
	}
	if len(docs) != 1 {
		return nil, fmt.Errorf("want one document, got %d", len(docs))
	}
	return docs[0].Object, nil
}
