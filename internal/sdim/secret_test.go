package sdim

import (
	"bytes"
	"crypto/sha256"
	"encoding/gob"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

const hunter = "hunter2-correct-horse"

// TestSecretNeverRenders renders a secret, alone and inside the model, every way a user or
// a log could see it, and looks for the value.
func TestSecretNeverRenders(t *testing.T) {
	s := NewSecret(hunter, "env:SNOW_PASSWORD")
	in := ServiceDeskIntegration{Name: "x", Attributes: map[string]any{
		"password": s, "nested": map[string]any{"list": []any{s}},
	}}
	type hidden struct{ s Secret } // reflection cannot call methods on unexported fields
	renders := map[string]func() (string, error){
		"%v":     func() (string, error) { return fmt.Sprintf("%v", s), nil },
		"%s":     func() (string, error) { return fmt.Sprintf("%s", s), nil },
		"%q":     func() (string, error) { return fmt.Sprintf("%q", s), nil },
		"%x":     func() (string, error) { return fmt.Sprintf("%x", s), nil },
		"%#v":    func() (string, error) { return fmt.Sprintf("%#v", s), nil },
		"%+v":    func() (string, error) { return fmt.Sprintf("%+v", in), nil },
		"%#v in": func() (string, error) { return fmt.Sprintf("%#v", in), nil },
		"field":  func() (string, error) { return fmt.Sprintf("%+v %#v", hidden{s}, hidden{s}), nil },
		"json": func() (string, error) {
			b, err := json.Marshal(in)
			return string(b), err
		},
		"yaml": func() (string, error) {
			b, err := yaml.Marshal(in)
			return string(b), err
		},
		"text": func() (string, error) {
			b, err := s.MarshalText()
			return string(b), err
		},
		"slog": func() (string, error) {
			var buf bytes.Buffer
			for _, h := range []slog.Handler{slog.NewJSONHandler(&buf, nil), slog.NewTextHandler(&buf, nil)} {
				l := slog.New(h)
				l.Info("m", "secret", s, "obj", in, "attrs", in.Attributes)
				l.Info("m", slog.Any("secret", s), slog.Group("g", "s", s))
			}
			return buf.String(), nil
		},
		"error": func() (string, error) { return fmt.Errorf("bad value %v: %w", s, errors.New("x")).Error(), nil },
	}
	for name, render := range renders {
		t.Run(name, func(t *testing.T) {
			got, err := render()
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(got, hunter) || strings.Contains(got, fmt.Sprintf("%x", hunter)) {
				t.Fatalf("the secret value leaked: %s", got)
			}
			if name != "field" && !strings.Contains(got, "sensitive") {
				t.Errorf("no redaction marker in %s", got)
			}
		})
	}
	if err := gob.NewEncoder(&bytes.Buffer{}).Encode(in.Attributes["password"].(Secret)); !errors.Is(err, ErrSecretEncoding) {
		t.Errorf("gob encoding: got %v, want ErrSecretEncoding", err)
	}
	if s.Reveal() != hunter {
		t.Errorf("Reveal lost the value")
	}
	if !s.Equal(NewSecret(hunter, "file:x")) || s.Equal(NewSecret("other", "env:SNOW_PASSWORD")) {
		t.Errorf("Equal compares values, not sources")
	}
	odd := NewSecret(hunter, "file:dir/\x01name")
	if b, err := json.Marshal(map[string]any{"v": odd}); err != nil || !json.Valid(b) {
		t.Errorf("a source with a control character makes invalid JSON: %s, %v", b, err)
	}
	if got := (Secret{}).String(); got != "(sensitive)" {
		t.Errorf("zero Secret renders %q", got)
	}
}

// TestOnlyTheTenantClientReveals walks the module's Go files: Reveal may be called from
// internal/tenant (request encoding) and from tests of this package, nowhere else.
func TestOnlyTheTenantClientReveals(t *testing.T) {
	root := filepath.Join("..", "..")
	allowed := []string{filepath.Join("internal", "tenant") + string(filepath.Separator)}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (d.Name() == "testdata" || strings.HasPrefix(d.Name(), ".") && path != root) {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") {
			return nil
		}
		rel, _ := filepath.Rel(root, path)
		if rel == filepath.Join("internal", "sdim", "secret_test.go") || rel == filepath.Join("internal", "sdim", "secret.go") {
			return nil
		}
		src, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		f, err := parser.ParseFile(token.NewFileSet(), path, src, 0)
		if err != nil {
			return err
		}
		ast.Inspect(f, func(n ast.Node) bool {
			sel, ok := n.(*ast.SelectorExpr)
			if !ok || sel.Sel.Name != "Reveal" {
				return true
			}
			for _, a := range allowed {
				if strings.HasPrefix(rel, a) {
					return true
				}
			}
			t.Errorf("%s calls Reveal: only the tenant client's request encoding may", rel)
			return true
		})
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestFingerprintIsKeyed: the fingerprint depends on the key and the value, and is neither
// the value nor its unkeyed hash.
func TestFingerprintIsKeyed(t *testing.T) {
	s := NewSecret(hunter, "env:X")
	k1, k2 := []byte("0123456789abcdef0123456789abcdef"), []byte("fedcba9876543210fedcba9876543210")
	fp := s.Fingerprint(k1)
	if fp == "" || fp == s.Fingerprint(k2) || fp != NewSecret(hunter, "").Fingerprint(k1) || fp == NewSecret("other", "").Fingerprint(k1) {
		t.Errorf("fingerprints: %s %s", fp, s.Fingerprint(k2))
	}
	plain := sha256.Sum256([]byte(hunter))
	if strings.Contains(fp, hunter) || fp == hex.EncodeToString(plain[:]) {
		t.Error("the fingerprint is the value or its unkeyed hash")
	}
	if s.Fingerprint(nil) != "" {
		t.Error("a fingerprint without a key")
	}
}
