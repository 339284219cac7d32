package main

// counter: the etcd-lock-pause experiment's clients. Each takes concurrency.Mutex, reads
// a counter kept in etcd, writes it plus one and unlocks, printing every step as a JSON
// history event (chaos/history.py) with its CLOCK_MONOTONIC time, which the parent
// records as it is. Unfenced, the write is a plain Put; fenced, it is a Txn guarded by
// the mutex's ownership (Mutex.IsOwner: the lock key's create revision), etcd's own
// fencing pattern, so a holder that lost its lock cannot write.
//
// With -hold it is the holder that pauses: it locks and reads, prints {"ready": ...} and
// waits for a line on stdin (the parent SIGSTOPs it there), then writes and exits.

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
	"golang.org/x/sys/unix"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"
)

type counterArgs struct {
	endpoints []string
	process   string
	key       string
	lock      string
	ttl       int
	fenced    bool
	hold      bool
	duration  time.Duration
}

func monotonicNs() int64 {
	var ts unix.Timespec
	_ = unix.ClockGettime(unix.CLOCK_MONOTONIC, &ts)
	return ts.Nano()
}

func (a counterArgs) record(kind, f string, fields map[string]any) {
	event := map[string]any{"process": a.process, "type": kind, "f": f, "key": a.key, "at_ns": monotonicNs()}
	for k, v := range fields {
		event[k] = v
	}
	line, _ := json.Marshal(event)
	fmt.Println(string(line))
}

// outcome: Jepsen's rule, fail only when the write certainly did not happen.
func outcome(err error) (string, map[string]any) {
	code := status.Code(err)
	definite := code == codes.InvalidArgument || code == codes.FailedPrecondition ||
		code == codes.NotFound || code == codes.OutOfRange
	kind := "info"
	if definite {
		kind = "fail"
	}
	return kind, map[string]any{"error": code.String()}
}

func counter(a counterArgs) error {
	cli, err := client(a.endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(a.ttl))
	if err != nil {
		return err
	}
	defer session.Close()
	m := concurrency.NewMutex(session, a.lock)
	if a.hold {
		return a.holdOnce(cli, m)
	}
	deadline := time.Now().Add(a.duration)
	for time.Now().Before(deadline) {
		select {
		case <-session.Done(): // expired: carry on with a new session, as a client would
			if session, err = concurrency.NewSession(cli, concurrency.WithTTL(a.ttl)); err != nil {
				return err
			}
			m = concurrency.NewMutex(session, a.lock)
		default:
		}
		a.turn(cli, m, nil)
	}
	return nil
}

// turn: lock, read, write, unlock; `paused` (the holder's) is called between the read and
// the write.
func (a counterArgs) turn(cli *clientv3.Client, m *concurrency.Mutex, paused func()) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	a.record("invoke", "acquire", nil)
	if err := m.Lock(ctx); err != nil {
		kind, fields := outcome(err)
		a.record(kind, "acquire", fields)
		return
	}
	a.record("ok", "acquire", map[string]any{"value": m.Key()})
	a.record("invoke", "read", nil)
	resp, err := cli.Get(ctx, a.key)
	if err != nil {
		kind, fields := outcome(err)
		a.record(kind, "read", fields)
		_ = m.Unlock(context.Background())
		return
	}
	n := 0
	if len(resp.Kvs) > 0 {
		n, _ = strconv.Atoi(string(resp.Kvs[0].Value))
	}
	a.record("ok", "read", map[string]any{"value": n})
	if paused != nil {
		paused()
		ctx, cancel = context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
	}
	a.write(ctx, cli, m, n+1)
	_ = m.Unlock(ctx)
}

func (a counterArgs) write(ctx context.Context, cli *clientv3.Client, m *concurrency.Mutex, value int) {
	a.record("invoke", "write", map[string]any{"value": value})
	put := clientv3.OpPut(a.key, strconv.Itoa(value))
	if !a.fenced {
		if _, err := cli.Do(ctx, put); err != nil {
			kind, fields := outcome(err)
			a.record(kind, "write", fields)
			return
		}
		a.record("ok", "write", map[string]any{"value": value})
		return
	}
	resp, err := cli.Txn(ctx).If(m.IsOwner()).Then(put).Commit()
	if err != nil {
		kind, fields := outcome(err)
		a.record(kind, "write", fields)
		return
	}
	if !resp.Succeeded { // the lock key is gone or newer: this client no longer holds it
		a.record("fail", "write", map[string]any{"error": "NOT_OWNER"})
		return
	}
	a.record("ok", "write", map[string]any{"value": value})
}

func (a counterArgs) holdOnce(cli *clientv3.Client, m *concurrency.Mutex) error {
	a.turn(cli, m, func() {
		ready, _ := json.Marshal(map[string]any{"ready": true, "lock_key": m.Key()})
		fmt.Println(string(ready))
		_, _ = bufio.NewReader(os.Stdin).ReadString('\n') // the parent pauses it here
	})
	return nil
}
