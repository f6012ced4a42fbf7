package desired

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"syscall"
)

// openRegular opens a file for reading only when it is a regular file. It opens with
// O_NONBLOCK, so that a FIFO (a named pipe a hostile or careless commit put in the tree,
// or a ${file:...} reference to one) cannot block the load forever waiting for a
// writer, then checks the open file's type: a FIFO, socket or device is refused with a
// message that says which it is. O_NONBLOCK changes nothing for reads of a regular file.
func openRegular(path string) (*os.File, fs.FileInfo, error) {
	// Stat first: opening a socket fails with a less helpful error, and a device or FIFO
	// is better not opened at all. The open below checks again, for a file swapped in
	// between.
	if info, err := os.Stat(path); err == nil && !info.Mode().IsRegular() {
		return nil, info, fmt.Errorf("not a regular file but %s", fileType(info.Mode()))
	}
	f, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK|syscall.O_NOCTTY, 0)
	if err != nil {
		return nil, nil, err
	}
	info, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, nil, err
	}
	if !info.Mode().IsRegular() {
		f.Close()
		return nil, info, fmt.Errorf("not a regular file but %s", fileType(info.Mode()))
	}
	return f, info, nil
}

// fileType names a file mode's type for an error message.
func fileType(m fs.FileMode) string {
	switch {
	case m&fs.ModeNamedPipe != 0:
		return "a named pipe (FIFO)"
	case m&fs.ModeSocket != 0:
		return "a socket"
	case m&fs.ModeCharDevice != 0:
		return "a character device"
	case m&fs.ModeDevice != 0:
		return "a device"
	case m.IsDir():
		return "a directory"
	case m&fs.ModeIrregular != 0:
		return "an irregular file"
	}
	return "not a plain file"
}

// ReadRegular reads a file of at most limit bytes, refusing anything but a regular file
// without blocking on it: for callers outside this package that read a desired file again
// after a load (a file swapped for a FIFO in between must not hang them).
func ReadRegular(path string, limit int64) ([]byte, error) {
	f, _, err := openRegular(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, limit+1))
	if err != nil {
		return nil, err
	}
	if int64(len(data)) > limit {
		return nil, fmt.Errorf("%s is larger than %d bytes", path, limit)
	}
	return data, nil
}
