// Package errno maps the u32 error codes returned by taubyte/sdk host functions to Go errors.
package errno

import "strconv"

// Error is a host error code; 0 means success and is never returned as an error.
type Error uint32

const (
	ErrorNone                Error = 0
	ErrorEventNotFound       Error = 1
	ErrorBufferTooSmall      Error = 2
	ErrorAddressOutOfMemory  Error = 3
	ErrorNilAddress          Error = 4
	ErrorHttpWrite           Error = 5
	ErrorHttpReadBody        Error = 6
	ErrorCloseBody           Error = 7
	ErrorEOF                 Error = 8
	ErrorReadHeaders         Error = 9
	ErrorClientNotFound      Error = 10
	ErrorParseUrlFailed      Error = 11
	ErrorMemoryWriteFailed   Error = 12
	ErrorHttpRequestFailed   Error = 13
	ErrorInvalidMethod       Error = 14
	ErrorNewRequestFailed    Error = 15
	ErrorHeaderNotFound      Error = 16
	ErrorSubscribeFailed     Error = 20
	ErrorPublishFailed       Error = 21
	ErrorGetWebSocketURL     Error = 38
	ErrorChannelNotFound     Error = 40
	ErrorCommandCreateFailed Error = 42
	ErrorP2PSendFailed       Error = 43
	ErrorP2PCommandNotFound  Error = 44
	ErrorP2PProtocolNotFound Error = 45
	ErrorP2PListenFailed     Error = 48
	ErrorP2PDiscoverFailed   Error = 117
	ErrorResolverNotFound    Error = 101
	ErrorFailedTxTLookup     Error = 102
	ErrorFailedAddressLookup Error = 103
	ErrorFailedCNAMELookup   Error = 104
	ErrorFailedMXLookup      Error = 105
	ErrorRandRead            Error = 110

	ErrorDatabaseCreateFailed Error = 22
	ErrorDatabaseGetFailed    Error = 23
	ErrorDatabasePutFailed    Error = 24
	ErrorDatabaseNotFound     Error = 25
	ErrorDatabaseDeleteFailed Error = 26
	ErrorDatabaseListFailed   Error = 27
	ErrorDatabaseKeyNotFound  Error = 29

	ErrorAddFileFailed          Error = 31
	ErrorGetFileFailed          Error = 32
	ErrorDeleteFileFailed       Error = 33
	ErrorCloseFileFailed        Error = 34
	ErrorFileNameNotFound       Error = 35
	ErrorListFileVersionsFailed Error = 36
	ErrorListingUsedSpaceFailed Error = 37
	ErrorStorageGetMetaFailed   Error = 90
	ErrorStorageNotFound        Error = 92
	ErrorStorageListFailed      Error = 93
	ErrorInvalidCid             Error = 19
	ErrorCreatingNewFile        Error = 94
	ErrorWritingFile            Error = 95
	ErrorContentNotFound        Error = 96
	ErrorReadingFile            Error = 97
	ErrorInvalidWhence          Error = 98
	ErrorSeekingFile            Error = 99
	ErrorCidNotFound            Error = 100
	ErrorZeroSize               Error = 50
	ErrorSizeMismatch           Error = 89
)

var names = map[Error]string{
	ErrorEventNotFound:       "event not found",
	ErrorBufferTooSmall:      "buffer too small",
	ErrorAddressOutOfMemory:  "address out of memory",
	ErrorNilAddress:          "nil address",
	ErrorHttpWrite:           "http write failed",
	ErrorHttpReadBody:        "reading the http body failed",
	ErrorCloseBody:           "closing the http body failed",
	ErrorEOF:                 "EOF",
	ErrorReadHeaders:         "reading headers failed",
	ErrorHeaderNotFound:      "header not found",
	ErrorClientNotFound:      "http client not found",
	ErrorParseUrlFailed:      "parsing the url failed",
	ErrorMemoryWriteFailed:   "memory write failed",
	ErrorHttpRequestFailed:   "http request failed",
	ErrorInvalidMethod:       "invalid http method",
	ErrorNewRequestFailed:    "new http request failed",
	ErrorSubscribeFailed:     "subscribe failed",
	ErrorPublishFailed:       "publish failed",
	ErrorGetWebSocketURL:     "getting the websocket url failed",
	ErrorChannelNotFound:     "channel not found",
	ErrorCommandCreateFailed: "p2p command create failed",
	ErrorP2PSendFailed:       "p2p send failed",
	ErrorP2PCommandNotFound:  "p2p command not found",
	ErrorP2PProtocolNotFound: "p2p protocol not found",
	ErrorP2PListenFailed:     "p2p listen failed",
	ErrorP2PDiscoverFailed:   "p2p discover failed",
	ErrorRandRead:            "reading random bytes failed",
	ErrorResolverNotFound:    "dns resolver not found",
	ErrorFailedTxTLookup:     "TXT lookup failed",
	ErrorFailedAddressLookup: "address lookup failed",
	ErrorFailedCNAMELookup:   "CNAME lookup failed",
	ErrorFailedMXLookup:      "MX lookup failed",

	ErrorDatabaseCreateFailed: "database create failed",
	ErrorDatabaseGetFailed:    "database get failed",
	ErrorDatabasePutFailed:    "database put failed",
	ErrorDatabaseNotFound:     "database not found",
	ErrorDatabaseDeleteFailed: "database delete failed",
	ErrorDatabaseListFailed:   "database list failed",
	ErrorDatabaseKeyNotFound:  "database key not found",

	ErrorAddFileFailed:          "add file failed",
	ErrorGetFileFailed:          "get file failed",
	ErrorDeleteFileFailed:       "delete file failed",
	ErrorCloseFileFailed:        "close file failed",
	ErrorFileNameNotFound:       "file name not found",
	ErrorListFileVersionsFailed: "list file versions failed",
	ErrorListingUsedSpaceFailed: "listing used space failed",
	ErrorStorageGetMetaFailed:   "storage get meta failed",
	ErrorStorageNotFound:        "storage not found",
	ErrorStorageListFailed:      "storage list failed",
	ErrorInvalidCid:             "invalid cid",
	ErrorCreatingNewFile:        "creating new file failed",
	ErrorWritingFile:            "writing file failed",
	ErrorContentNotFound:        "content not found",
	ErrorReadingFile:            "reading file failed",
	ErrorInvalidWhence:          "invalid whence",
	ErrorSeekingFile:            "seeking file failed",
	ErrorCidNotFound:            "cid not found",
	ErrorZeroSize:               "zero size",
	ErrorSizeMismatch:           "size mismatch",
}

func (e Error) Error() string {
	if name, ok := names[e]; ok {
		return name
	}
	return "taubyte/sdk error " + strconv.FormatUint(uint64(e), 10)
}

// Err turns a raw host result into a Go error (nil on success).
func Err(code uint32) error {
	if code == 0 {
		return nil
	}
	return Error(code)
}
