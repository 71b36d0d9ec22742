module p2pecho

go 1.19

require github.com/taubyte/go-sdk v0.3.9
