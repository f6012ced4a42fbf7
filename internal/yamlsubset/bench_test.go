package yamlsubset

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// BenchmarkParse parses one file of 100 service desk integrations (the documents of the
// desired package's BenchmarkLoad10k) with this parser and with yaml.v3. One op is the
// whole file; the trees are walked and dropped, as the loader does.
func BenchmarkParse(b *testing.B) {
	var sb strings.Builder
	for n := range 100 {
		fmt.Fprintf(&sb, `---
kind: ServiceDeskIntegration
name: Integration %05d
spec:
  description: Tickets for manual provisioning, team %d
  type: ServiceNowSDIM
  ownerRef: {type: IDENTITY, id: 2c9180a46faadee4016fb4e018c2%04d}
  clusterRef: {type: CLUSTER, id: 2c9180847a7fccdd017aa5896f9f4f6f}
  provisioningConfig:
    managedResourceRefs:
      - {type: SOURCE, id: 2c9180855d191c59015d291ceb05%04d}
      - {type: SOURCE, id: 2c9180855d191c59015d291ceb06%04d}
    noProvisioningRequests: false
    provisioningRequestExpiration: 7
  attributes:
    url: https://acme-%d.service-now.com
    username: svc-sailpoint
    password: ${env:SNOW_PASSWORD}
    authType: basic
    requestType: catalog
  beforeProvisioningRule: {type: RULE, id: 2c918085708c274401708c2a8a760001}
options:
  ignore: [/attributes/lastSyncDate]
`, n, n%50, n, n, n, n)
	}
	src := sb.String()
	b.Run("yamlsubset", func(b *testing.B) {
		benchDocs(b, len(src), func() func() error {
			p := NewParser(src)
			return func() error { _, err := p.Next(); return err }
		})
	})
	b.Run("yaml.v3", func(b *testing.B) {
		benchDocs(b, len(src), func() func() error {
			dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
			return func() error {
				var doc yaml.Node
				return dec.Decode(&doc)
			}
		})
	})
}

// benchDocs parses the 100 documents of a text of size bytes again and again: start
// begins the text and returns the function that parses the next document.
func benchDocs(b *testing.B, size int, start func() func() error) {
	b.ReportAllocs()
	b.SetBytes(int64(size))
	for b.Loop() {
		next, docs := start(), 0
		for {
			err := next()
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			docs++
		}
		if docs != 100 {
			b.Fatalf("%d documents", docs)
		}
	}
}
