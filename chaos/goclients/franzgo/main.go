// franzgo: franz-go (github.com/twmb/franz-go), a Kafka client written in Go, as a
// workload the tests and experiments run in a process of its own. It writes the same
// history lines as tests/clients/kafka_workload.py, one JSON object per operation:
//
//	franzgo produce -brokers B -topic T -count N   franz-go's default producer:
//	                                              idempotent, acks=all; it stops early
//	                                              when stdin closes
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

// op is one operation; it is written as its invoke and its completion, the events
// chaos.locking.replay reads (their times from CLOCK_MONOTONIC, the parent's clock).
type op struct {
	Process string
	F       string
	Key     string
	Input   any
	Output  any
	Outcome string
	StartNs int64
	EndNs   int64
}

type event struct {
	Process string `json:"process"`
	Type    string `json:"type"`
	F       string `json:"f"`
	Key     string `json:"key"`
	AtNs    int64  `json:"at_ns"`
	Value   any    `json:"value"`
}

// monotonic: CLOCK_MONOTONIC in ns, the clock the Python side's time.monotonic_ns reads.
var base = time.Now()
var baseNs = monotonicNs()

func now() int64 { return baseNs + int64(time.Since(base)) }

func emit(o op) {
	say(event{o.Process, "invoke", o.F, o.Key, o.StartNs, o.Input})
	say(event{o.Process, o.Outcome, o.F, o.Key, o.EndNs, o.Output})
}

func say(line any) {
	outMu.Lock()
	defer outMu.Unlock()
	if err := out.Encode(line); err != nil {
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
	closed := stdinClosed()
	var wg sync.WaitGroup
	for i := 0; i < count && !isClosed(closed); i++ {
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
	closed := stdinClosed()
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
			start := now()
			if err := client.CommitUncommittedOffsets(ctx); err != nil {
				for p, records := range byPartition {
					next := []any{records[len(records)-1][0].(int64) + 1, nil}
					emit(op{name, "commit", fmt.Sprintf("%s/%d", topic, p), next, err.Error(), "fail", start, now()})
				}
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
	say(map[string]any{"committed": committed})
	return nil
}

// stdinClosed is closed once stdin ends: the parent's way to say "stop".
func stdinClosed() chan struct{} {
	closed := make(chan struct{})
	go func() { _, _ = io.Copy(io.Discard, os.Stdin); close(closed) }()
	return closed
}

func isClosed(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}
