package report

import (
	"encoding/xml"
	"fmt"
	"io"
)

type junitSuites struct {
	XMLName  xml.Name     `xml:"testsuites"`
	Name     string       `xml:"name,attr"`
	Tests    int          `xml:"tests,attr"`
	Failures int          `xml:"failures,attr"`
	Suites   []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Name      string        `xml:"name,attr"`
	ClassName string        `xml:"classname,attr"`
	Failure   *junitFailure `xml:"failure,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitFailure struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Text    string `xml:",chardata"`
}

// writeJUnit writes a suite per file and a test case per document: a failed
// case carries every failure, warnings go to system-out.
func writeJUnit(w io.Writer, r *Report) error {
	out := junitSuites{Name: "budgetgate"}
	for _, file := range files(r) {
		suite := junitSuite{Name: file}
		for _, res := range r.Results {
			if res.Document.File != file {
				continue
			}
			tc := junitCase{Name: fmt.Sprintf("%s (line %d)", res.Document.Name(), res.Document.Line), ClassName: file}
			if n := len(res.Decision.Failures); n > 0 {
				text := ""
				for _, f := range res.Decision.Failures {
					text += f.String() + "\n"
				}
				tc.Failure = &junitFailure{Message: plural(n, "policy failure"), Type: "failure", Text: text}
				suite.Failures++
			}
			for _, f := range res.Decision.Warnings {
				tc.SystemOut += "warning: " + f.String() + "\n"
			}
			suite.Cases = append(suite.Cases, tc)
			suite.Tests++
		}
		out.Tests += suite.Tests
		out.Failures += suite.Failures
		out.Suites = append(out.Suites, suite)
	}
	if _, err := io.WriteString(w, xml.Header); err != nil {
		return err
	}
	enc := xml.NewEncoder(w)
	enc.Indent("", "  ")
	if err := enc.Encode(out); err != nil {
		return err
	}
	_, err := io.WriteString(w, "\n")
	return err
}
