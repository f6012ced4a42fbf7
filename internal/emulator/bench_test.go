package emulator

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strconv"
	"testing"
)

// BenchmarkListAll lists 10,000 integrations, 250 a page, over loopback HTTP with a real
// client: the cost of one full snapshot as the tenant client will take it. One op is the
// whole listing (40 pages, each decoded).
func BenchmarkListAll(b *testing.B) {
	for _, tc := range []struct {
		name  string
		extra string
	}{
		{"default-order", ""},
		{"sorted-count", "&sorters=name&count=true"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			const n = 10_000
			srv, tok := benchTenant(b, n)
			client := srv.Client()
			b.ReportAllocs()
			b.ResetTimer()
			for b.Loop() {
				got := 0
				for offset := 0; ; offset += maxPageSize {
					req, _ := http.NewRequest("GET", fmt.Sprintf("%s%s?offset=%d&limit=%d%s", srv.URL, sdimV3, offset, maxPageSize, tc.extra), nil)
					req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
					resp, err := client.Do(req)
					if err != nil {
						b.Fatal(err)
					}
					var page []json.RawMessage
					err = json.NewDecoder(resp.Body).Decode(&page)
					_, _ = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
					if err != nil || resp.StatusCode != 200 {
						b.Fatalf("page at %d: %d %v", offset, resp.StatusCode, err)
					}
					got += len(page)
					if len(page) < maxPageSize {
						break
					}
				}
				if got != n {
					b.Fatalf("listed %d, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n), "objects/op")
		})
	}
}

// BenchmarkCreate measures one create over loopback HTTP.
func BenchmarkCreate(b *testing.B) {
	srv, tok := benchTenant(b, 0)
	client := srv.Client()
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		i++
		body := mustJSON(snow("Bench " + strconv.Itoa(i)))
		req, _ := http.NewRequest("POST", srv.URL+sdimV3, bytes.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		req.Header.Set("Content-Type", "application/json")
		resp, err := client.Do(req)
		if err != nil {
			b.Fatal(err)
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			b.Fatalf("status %d", resp.StatusCode)
		}
	}
}

// benchTenant serves an emulator holding n generated integrations, without a rate limit,
// and takes a token for the demo client. The server closes when the benchmark ends.
func benchTenant(b *testing.B, n int) (*httptest.Server, tokenResponse) {
	b.Helper()
	e, err := New(Config{RateLimit: -1})
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Generate(n); err != nil {
		b.Fatal(err)
	}
	srv := httptest.NewServer(e)
	b.Cleanup(srv.Close)
	return srv, benchToken(b, srv.URL)
}

// benchToken takes a token for the demo client.
func benchToken(b *testing.B, base string) tokenResponse {
	b.Helper()
	resp, err := http.PostForm(base+TokenPath, url.Values{"grant_type": {"client_credentials"}, "client_id": {DemoClientID}, "client_secret": {DemoClientSecret}})
	if err != nil {
		b.Fatal(err)
	}
	defer resp.Body.Close()
	var tok tokenResponse
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || resp.StatusCode != http.StatusOK {
		b.Fatalf("token: status %d, %v", resp.StatusCode, err)
	}
	return tok
}
