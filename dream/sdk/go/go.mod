module github.com/taubyte/go-sdk

go 1.24
