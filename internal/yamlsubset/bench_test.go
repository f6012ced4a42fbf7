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
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			p := NewParser(src)
			docs := 0
			for {
				_, err := p.Next()
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
	})
	b.Run("yaml.v3", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(src)))
		for b.Loop() {
			dec := yaml.NewDecoder(bytes.NewReader([]byte(src)))
			docs := 0
			for {
				var doc yaml.Node
				err := dec.Decode(&doc)
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
	})
}
