// Package wrap makes the SDK's error messages without fmt: importing fmt links it, and the os, reflect
// and I/O packages it brings, into every function built with the SDK, for a few messages.
package wrap

type wrapped struct {
	msg string
	err error
}

func (w *wrapped) Error() string { return w.msg }

func (w *wrapped) Unwrap() error { return w.err }

// Error is "msg: err" and wraps err (errors.Is and errors.As see it), as fmt.Errorf("msg: %w", err) is.
func Error(msg string, err error) error {
	return &wrapped{msg: msg + ": " + err.Error(), err: err}
}

// Hex is b in lower-case hexadecimal, as fmt's %x prints it.
func Hex(b []byte) string {
	const digits = "0123456789abcdef"
	out := make([]byte, 2*len(b))
	for i, c := range b {
		out[2*i], out[2*i+1] = digits[c>>4], digits[c&15]
	}
	return string(out)
}
