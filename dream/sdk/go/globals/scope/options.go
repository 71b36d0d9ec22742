// Package scope chooses where a global value lives: the project (no option), the calling function's
// application, the function itself, or both.
package scope

import "github.com/taubyte/go-sdk/globals/internal"

// Application scopes a value to the calling function's application.
func Application(i *internal.Instance) { i.Application = 1 }

// Function scopes a value to the calling function.
func Function(i *internal.Instance) { i.Function = 1 }
