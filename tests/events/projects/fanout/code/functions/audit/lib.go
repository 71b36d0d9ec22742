package lib

import (
	"strconv"

	"github.com/taubyte/go-sdk/database"
	"github.com/taubyte/go-sdk/event"
)

// On each message of its channel: /seen gets audit/<the first 24 bytes> = <channel>:<size>.
//
//export audit
func audit(e event.Event) uint32 {
	p, err := e.PubSub()
	if err != nil {
		return 1
	}
	data, err := p.Data()
	if err != nil {
		panic(err)
	}
	ch, err := p.Channel()
	if err != nil {
		panic(err)
	}
	short := data
	if len(short) > 24 {
		short = short[:24]
	}
	db, err := database.New("/seen")
	if err != nil {
		panic(err)
	}
	if err := db.Put("audit/"+string(short), []byte(ch.Name()+":"+strconv.Itoa(len(data)))); err != nil {
		panic(err)
	}
	return 0
}
