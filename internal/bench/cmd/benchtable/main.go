// Command benchtable prints the harness's table from the outputs scripts/bench.sh
// collected: every file named *.bench in DIR holds go test -bench output, and idle.txt
// the output of scripts/daemon-idle.sh.
//
//	benchtable -dir DIR -command 'scripts/bench.sh' -go "$(go version)"
package main

import (
	"bufio"
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"time"

	"github.com/sdim-sync/sdim-sync/internal/bench"
)

func main() {
	dir := flag.String("dir", ".", "directory of the results")
	command := flag.String("command", "scripts/bench.sh", "the command that reproduces the table")
	goVersion := flag.String("go", runtime.Version(), "the Go toolchain that built the benchmarks")
	flag.Parse()
	if err := run(*dir, *command, *goVersion); err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
}

func run(dir, command, goVersion string) error {
	var f bench.Figures
	files, err := filepath.Glob(filepath.Join(dir, "*.bench"))
	if err != nil {
		return err
	}
	for _, p := range files {
		if err := parse(p, f.ParseBench); err != nil {
			return err
		}
	}
	if err := parse(filepath.Join(dir, "idle.txt"), f.ParseIdle); err != nil && !os.IsNotExist(err) {
		return err
	}
	m := bench.Machine{Cores: runtime.NumCPU(), CPU: cpuModel(), Go: strings.TrimPrefix(goVersion, "go version "),
		Date: time.Now().Format("2006-01-02"), Command: command}
	var out bytes.Buffer
	if err := bench.Render(&out, &f, m); err != nil {
		return err
	}
	_, err = os.Stdout.Write(out.Bytes())
	return err
}

func parse(path string, into func(r io.Reader) error) error {
	fh, err := os.Open(path)
	if err != nil {
		return err
	}
	defer fh.Close()
	if err := into(fh); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}

// cpuModel is the first "model name" of /proc/cpuinfo.
func cpuModel() string {
	fh, err := os.Open("/proc/cpuinfo")
	if err != nil {
		return "unknown CPU"
	}
	defer fh.Close()
	sc := bufio.NewScanner(fh)
	for sc.Scan() {
		if k, v, ok := strings.Cut(sc.Text(), ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return "unknown CPU"
}
