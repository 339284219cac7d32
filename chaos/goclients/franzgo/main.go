// franzgo: franz-go (github.com/twmb/franz-go), a Kafka client written in Go, as a
// workload the tests and experiments run in a process of its own. It writes the same
// history lines as tests/clients/kafka_workload.py, one JSON object per operation:
//
//	franzgo produce -brokers B -topic T -count N   franz-go's default producer:
//	                                              idempotent, acks=all
//	franzgo consume -brokers B -topic T -group G -name C
//	                                              a group member that commits after every
//	                                              poll until stdin closes, then leaves
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
)

var (
	out   = json.NewEncoder(os.Stdout)
	outMu sync.Mutex
)

type op struct {
	Process string `json:"process"`
	F       string `json:"f"`
	Key     string `json:"key"`
	Input   any    `json:"input"`
	Output  any    `json:"output"`
	Outcome string `json:"outcome"`
	StartNs int64  `json:"start_ns"`
	EndNs   int64  `json:"end_ns"`
}

// monotonic: CLOCK_MONOTONIC in ns, the clock the Python side's time.monotonic_ns reads.
var base = time.Now()
var baseNs = monotonicNs()

func now() int64 { return baseNs + int64(time.Since(base)) }

func emit(o op) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(o); err != nil {
		panic(err)
	}
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: franzgo produce|consume [flags]")
		os.Exit(2)
	}
	fs := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	brokers := fs.String("brokers", "", "bootstrap servers, comma-separated")
	topic := fs.String("topic", "", "topic")
	count := fs.Int("count", 100, "records to produce")
	group := fs.String("group", "g", "consumer group")
	name := fs.String("name", "c", "this consumer's name in the history")
	_ = fs.Parse(os.Args[2:])
	seeds := strings.Split(*brokers, ",")
	var err error
	switch os.Args[1] {
	case "produce":
		err = produce(seeds, *topic, *count)
	case "consume":
		err = consume(seeds, *topic, *group, *name)
	default:
		err = fmt.Errorf("unknown role %q", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

func produce(seeds []string, topic string, count int) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.DefaultProduceTopic(topic),
		kgo.RecordDeliveryTimeout(2*time.Minute), kgo.ProducerLinger(5*time.Millisecond))
	if err != nil {
		return err
	}
	defer client.Close()
	var wg sync.WaitGroup
	for i := 0; i < count; i++ {
		value := fmt.Sprintf("v%d", i)
		start := now()
		wg.Add(1)
		record := &kgo.Record{Key: []byte(fmt.Sprint(i)), Value: []byte(value)}
		client.Produce(context.Background(), record, func(r *kgo.Record, err error) {
			defer wg.Done()
			key := fmt.Sprintf("%s/%d", topic, r.Partition)
			if err != nil {
				emit(op{"producer", "send", key, value, err.Error(), "info", start, now()})
				return
			}
			emit(op{"producer", "send", key, value, r.Offset, "ok", start, now()})
		})
		time.Sleep(5 * time.Millisecond)
	}
	wg.Wait()
	return nil
}

func consume(seeds []string, topic, group, name string) error {
	client, err := kgo.NewClient(kgo.SeedBrokers(seeds...), kgo.ConsumerGroup(group),
		kgo.ConsumeTopics(topic), kgo.ClientID(name), kgo.DisableAutoCommit(),
		kgo.ConsumeResetOffset(kgo.NewOffset().AtStart()),
		kgo.SessionTimeout(6*time.Second), kgo.HeartbeatInterval(500*time.Millisecond))
	if err != nil {
		return err
	}
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(closed) }()
	for {
		select {
		case <-closed:
			return leave(client, topic, name)
		default:
		}
		ctx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
		start := now()
		fetches := client.PollRecords(ctx, 200)
		cancel()
		byPartition := map[int32][][2]any{}
		fetches.EachRecord(func(r *kgo.Record) {
			byPartition[r.Partition] = append(byPartition[r.Partition], [2]any{r.Offset, string(r.Value)})
		})
		end := now()
		for p, records := range byPartition {
			emit(op{name, "poll", fmt.Sprintf("%s/%d", topic, p), nil, records, "ok", start, end})
		}
		if len(byPartition) > 0 {
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			if err := client.CommitUncommittedOffsets(ctx); err != nil {
				emit(op{name, "commit", topic, nil, err.Error(), "fail", start, now()})
			}
			cancel()
		}
	}
}

func leave(client *kgo.Client, topic, name string) error {
	committed := map[string]int64{}
	for t, partitions := range client.CommittedOffsets() {
		if t != topic {
			continue
		}
		for p, o := range partitions {
			committed[fmt.Sprint(p)] = o.Offset
		}
	}
	client.LeaveGroup()
	client.Close()
	emit(op{name, "committed", topic, nil, committed, "ok", now(), now()})
	return nil
}
