// Package self tells a function who it is: its project, application, id, and the branch and commit it
// is served from.
package self

import (
	"unsafe"

	"github.com/taubyte/go-sdk/errno"
	"github.com/taubyte/go-sdk/internal/wrap"
)

func value(what string, size func(*uint32) uint32, data func(unsafe.Pointer) uint32) (string, error) {
	var n uint32
	if code := size(&n); code != 0 {
		return "", wrap.Error("getting the "+what+" size failed with", errno.Error(code))
	}
	if n == 0 {
		return "", nil
	}
	buf := make([]byte, n)
	if code := data(unsafe.Pointer(&buf[0])); code != 0 {
		return "", wrap.Error("getting the "+what+" failed with", errno.Error(code))
	}
	return string(buf), nil
}

// Project is the id of the function's project.
func Project() (string, error) { return value("project", selfProjectSize, selfProject) }

// Application is the id of the function's application ("" for a function of the project itself).
func Application() (string, error) {
	return value("application", selfApplicationSize, selfApplication)
}

// Function is the function's id.
func Function() (string, error) { return value("function", selfIdSize, selfId) }

// Branch is the branch the function is served from.
func Branch() (string, error) { return value("branch", selfBranchSize, selfBranch) }

// Commit is the commit the function is served from.
func Commit() (string, error) { return value("commit", selfCommitSize, selfCommit) }
