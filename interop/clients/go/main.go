// franz-go producer and reader for the client matrix (interop/clients/run.sh).
//
//	franz produce BOOTSTRAP TOPIC COUNT ACKLOG   values "franz-go-<i>" to partition i%3, idempotent (the default)
//	franz read    BOOTSTRAP TOPIC OUT            every record up to the end offsets, as JSON lines
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"log"
	"os"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"
)

func main() {
	if len(os.Args) < 5 {
		log.Fatal("usage: franz produce BOOTSTRAP TOPIC COUNT ACKLOG | franz read BOOTSTRAP TOPIC OUT")
	}
	out, err := os.Create(os.Args[len(os.Args)-1])
	if err != nil {
		log.Fatal(err)
	}
	defer out.Close()
	switch os.Args[1] {
	case "produce":
		n, _ := strconv.Atoi(os.Args[4])
		produce(os.Args[2], os.Args[3], n, json.NewEncoder(out))
	case "read":
		read(os.Args[2], os.Args[3], json.NewEncoder(out))
	}
}

func produce(bootstrap, topic string, n int, acks *json.Encoder) {
	cl, err := kgo.NewClient(
		kgo.SeedBrokers(bootstrap),
		kgo.RecordPartitioner(kgo.ManualPartitioner()), // Record.Partition is used as given
		kgo.ProducerBatchMaxBytes(1024),                // small batches: many Produce requests, many lost acks
		kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond }),
		// A connection closed before its first response looks like missing SASL to franz-go: it
		// refreshes metadata first, at most once per MetadataMinAge (default 5 s).
		kgo.MetadataMinAge(100*time.Millisecond),
		kgo.WithLogger(logger()),
	)
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	var mu sync.Mutex
	for i := 0; i < n; i++ {
		r := &kgo.Record{Topic: topic, Partition: int32(i % 3), Value: []byte(fmt.Sprintf("franz-go-%d", i))}
		cl.Produce(context.Background(), r, func(r *kgo.Record, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				acks.Encode(map[string]any{"value": string(r.Value), "partition": r.Partition, "error": err.Error()})
			} else {
				acks.Encode(map[string]any{"value": string(r.Value), "partition": r.Partition, "offset": r.Offset})
			}
		})
	}
	if err := cl.Flush(context.Background()); err != nil {
		log.Fatal(err)
	}
}

// logger: franz-go's own log on stderr, level from $KGO_LOG_LEVEL (debug, info, warn; default warn).
func logger() kgo.Logger {
	level := map[string]kgo.LogLevel{"debug": kgo.LogLevelDebug, "info": kgo.LogLevelInfo}[os.Getenv("KGO_LOG_LEVEL")]
	if level == kgo.LogLevelNone {
		level = kgo.LogLevelWarn
	}
	return kgo.BasicLogger(os.Stderr, level, nil)
}

func read(bootstrap, topic string, out *json.Encoder) {
	ctx := context.Background()
	adm, err := kgo.NewClient(kgo.SeedBrokers(bootstrap))
	if err != nil {
		log.Fatal(err)
	}
	ends, err := kadm.NewClient(adm).ListEndOffsets(ctx, topic)
	adm.Close()
	if err != nil || ends.Error() != nil {
		log.Fatal(err, ends.Error())
	}
	start := map[int32]kgo.Offset{}
	next, end := map[int32]int64{}, map[int32]int64{}
	ends.Each(func(o kadm.ListedOffset) {
		start[o.Partition] = kgo.NewOffset().AtStart()
		next[o.Partition], end[o.Partition] = 0, o.Offset
	})
	cl, err := kgo.NewClient(kgo.SeedBrokers(bootstrap),
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: start}))
	if err != nil {
		log.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(ctx, 2*time.Minute)
	defer cancel()
	for behind(next, end) {
		fs := cl.PollFetches(ctx)
		if errs := fs.Errors(); len(errs) > 0 {
			log.Fatal(errs)
		}
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset < end[r.Partition] {
				out.Encode(map[string]any{"partition": r.Partition, "offset": r.Offset, "value": string(r.Value)})
				next[r.Partition] = r.Offset + 1
			}
		})
	}
}

func behind(next, end map[int32]int64) bool {
	for p, e := range end {
		if next[p] < e {
			return true
		}
	}
	return false
}
