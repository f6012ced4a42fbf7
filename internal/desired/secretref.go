package desired

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"path/filepath"
	"strings"

	"gopkg.in/yaml.v3"

	"github.com/sdim-sync/sdim-sync/internal/sdim"
)

// Secret references: ${env:NAME} is the value of an environment variable, ${file:PATH}
// the content of a file (relative to the YAML file naming it, one trailing newline
// dropped). $${ is a literal ${. A string holding a reference, alone or among other text
// ("Bearer ${env:TOKEN}"), becomes an sdim.Secret holding the whole resolved string.
//
// References may appear only in open values (attributes, and a SIM integration's request
// and statusMap): every typed field is shown in plans, so a reference there is a problem.

// literal processes a typed string: escapes are undone, references refused.
func (d *fileDecoder) literal(n *yaml.Node, s string, at path) (string, bool) {
	return d.literalWhy(n, s, at, "is allowed only in attributes (and in request and statusMap of a SIMIntegration), because this field is shown in plans")
}

// literalWhy is literal with the reason a reference is refused.
func (d *fileDecoder) literalWhy(n *yaml.Node, s string, at path, why string) (string, bool) {
	if !strings.Contains(s, "${") {
		return s, true
	}
	out, _, ok := d.expand(n, s, at, why)
	return out, ok
}

// text processes a string of an open value: a string, or a Secret when it holds a
// reference or sits under a secret key. What it returns holds strings the State may hold
// (see keep).
func (d *fileDecoder) text(n *yaml.Node, s string, at path, secrets, secretKey bool) (any, bool) {
	if !strings.Contains(s, "${") {
		if secretKey && s != "" {
			return sdim.NewSecret(d.l.keep(s), ""), true
		}
		return d.l.keepAny(s), true
	}
	why := ""
	if !secrets {
		why = "is not allowed here, because this field is shown in plans"
	}
	out, refs, ok := d.expand(n, s, at, why)
	if !ok {
		return nil, false
	}
	if len(refs) == 0 {
		if secretKey && out != "" {
			return sdim.NewSecret(d.l.keep(out), ""), true
		}
		return d.l.keepAny(out), true
	}
	return sdim.NewSecret(d.l.keep(out), d.l.keep(strings.Join(refs, ","))), true
}

// expand resolves the references of s and undoes its escapes. It returns the sources of
// the references resolved ("env:NAME", "file:PATH"). refuse, when not "", says why
// references are refused here.
func (d *fileDecoder) expand(n *yaml.Node, s string, at path, refuse string) (string, []string, bool) {
	var b strings.Builder
	var refs []string
	good := true
	i := 0
	for {
		j := strings.Index(s[i:], "${")
		if j < 0 {
			b.WriteString(s[i:])
			break
		}
		j += i
		if j > 0 && s[j-1] == '$' { // $${ is a literal ${
			b.WriteString(s[i : j-1])
			b.WriteString("${")
			i = j + 2
			continue
		}
		b.WriteString(s[i:j])
		line, col := refPosition(n, s, j)
		end := strings.IndexByte(s[j+2:], '}')
		if end < 0 {
			d.problemAt(line, col, fmt.Sprintf("%s: a secret reference is not closed with }: write ${env:NAME} or ${file:PATH}, or $${ for a literal ${", at.String()))
			return "", nil, false
		}
		ref := s[j+2 : j+2+end]
		i = j + 2 + end + 1
		if refuse != "" {
			d.problemAt(line, col, fmt.Sprintf("%s: the secret reference ${%s} %s; write $${ for a literal ${", at.String(), ref, refuse))
			good = false
			continue
		}
		value, source, msg := d.resolve(ref)
		if msg != "" {
			d.problemAt(line, col, at.String()+": "+msg)
			good = false
			continue
		}
		refs = append(refs, source)
		b.WriteString(value)
	}
	return b.String(), refs, good
}

// refPosition estimates where offset j of a scalar's value sits in the file: exact for
// single-line plain scalars, the right line for literal blocks, the scalar's start
// otherwise.
func refPosition(n *yaml.Node, s string, j int) (int, int) {
	if n == nil {
		return 0, 0
	}
	switch {
	case n.Style == 0 && !strings.Contains(s, "\n"):
		return n.Line, n.Column + j
	case n.Style&yaml.LiteralStyle != 0:
		return n.Line + 1 + strings.Count(s[:j], "\n"), 0
	}
	return n.Line, n.Column
}

// resolve looks up one reference (the text between ${ and }). It returns the value and
// its source, or a message saying what is wrong and what to do.
func (d *fileDecoder) resolve(ref string) (value, source, msg string) {
	if d.res != nil { // remember what the file depended on, for the Cache
		defer func() { d.addDep(dep{ref: ref, sum: depSum(value, msg)}) }()
	}
	scheme, arg, ok := strings.Cut(ref, ":")
	switch {
	case ok && scheme == "env":
		if !validEnvName(arg) {
			return "", "", fmt.Sprintf("${env:%s}: %q is not an environment variable name (letters, digits and _, not starting with a digit)", arg, arg)
		}
		v, set := d.l.cfg.lookupEnv(arg)
		if !set {
			return "", "", fmt.Sprintf("${env:%s}: the environment variable %s is not set: set it where sdim-sync runs", arg, arg)
		}
		if v == "" {
			return "", "", fmt.Sprintf("${env:%s}: the environment variable %s is empty: set it to the secret", arg, arg)
		}
		return v, "env:" + arg, ""
	case ok && scheme == "file":
		if arg == "" {
			return "", "", "${file:}: name a file, such as ${file:secrets/password}"
		}
		v, msg := d.readSecretFile(arg)
		if msg != "" {
			return "", "", fmt.Sprintf("${file:%s}: %s", arg, msg)
		}
		return v, "file:" + arg, ""
	}
	return "", "", fmt.Sprintf("${%s} is not a secret reference: write ${env:NAME} or ${file:PATH}, or $${ for a literal ${", ref)
}

// addDep records a dependency of the file once, however many of its strings name the
// same reference (the password of every integration in it, say).
func (d *fileDecoder) addDep(dp dep) {
	if _, ok := d.depSeen[dp]; ok {
		return
	}
	if d.depSeen == nil {
		d.depSeen = map[dep]struct{}{}
	}
	dp.ref = d.l.keep(dp.ref) // a part of a string of the file, kept by the Cache
	d.depSeen[dp] = struct{}{}
	d.res.deps = append(d.res.deps, dp)
}

func validEnvName(s string) bool {
	if s == "" {
		return false
	}
	for i, c := range s {
		switch {
		case c == '_', c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z':
		case c >= '0' && c <= '9' && i > 0:
		default:
			return false
		}
	}
	return true
}

// readSecretFile reads the file a ${file:PATH} names, once per load.
func (d *fileDecoder) readSecretFile(arg string) (string, string) {
	p := filepath.FromSlash(arg)
	if !filepath.IsAbs(p) {
		p = filepath.Join(d.fileDir, p)
	}
	abs, err := filepath.Abs(p)
	if err != nil {
		return "", err.Error()
	}
	real, err := filepath.EvalSymlinks(abs)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", "no such file (the path is relative to the YAML file that names it)"
		}
		return "", "cannot read it: " + unwrapPath(err)
	}
	if !d.l.cfg.allowOutside && !within(d.l.root, real) {
		return "", "the file is outside the desired directory: move it inside, or allow secret files outside it (validate --allow-secret-files-outside)"
	}
	d.l.mu.Lock()
	fsec, ok := d.l.secretFiles[real]
	d.l.mu.Unlock()
	if !ok {
		fsec = readSecret(real)
		real = d.l.keep(real) // it may be the reference's own text: it goes into the State
		d.l.mu.Lock()
		d.l.secretFiles[real] = fsec
		d.l.mu.Unlock()
	}
	return fsec.value, fsec.err
}

func readSecret(path string) fileSecret {
	f, info, err := openRegular(path)
	if info != nil && err != nil {
		return fileSecret{err: err.Error() + ": a secret file must be a plain file"}
	}
	if err != nil {
		return fileSecret{err: "cannot read it: " + unwrapPath(err)}
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxSecretFileSize+1))
	if err != nil {
		return fileSecret{err: "cannot read it: " + unwrapPath(err)}
	}
	if len(data) > MaxSecretFileSize {
		return fileSecret{err: fmt.Sprintf("the file is larger than %s: a secret file holds one value", sizeText(MaxSecretFileSize))}
	}
	s := string(data)
	if t, ok := strings.CutSuffix(s, "\n"); ok {
		s = strings.TrimSuffix(t, "\r")
	}
	if s == "" {
		return fileSecret{err: "the file is empty: write the secret into it"}
	}
	return fileSecret{value: s}
}

// within reports whether path is root or below it.
func within(root, path string) bool {
	rel, err := filepath.Rel(root, path)
	if err != nil {
		return false
	}
	return rel == "." || rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}
