// etcdclient drives an etcd API with etcd's own Go client (go.etcd.io/etcd/client/v3) and
// its concurrency package: what a user's Go program does against etcd, run by the
// faultlab tests against the KV nodes. Each subcommand prints one JSON object.
//
//	etcdclient mutex    -endpoints E -workers N -rounds M   counter under concurrency.Mutex
//	etcdclient elect    -endpoints E -name NAME -value V    campaign, print when elected, hold
//	etcdclient observe  -endpoints E -name NAME             print each leader as it changes
//	etcdclient bank     -endpoints E -accounts A -workers N -transfers T   STM transfers
//	etcdclient counter  -endpoints E -process P [-fenced] [-hold] [-duration-s S]   counter.go
package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"math/rand"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

func main() {
	if len(os.Args) < 2 {
		fail(fmt.Errorf("usage: etcdclient mutex|elect|bank [flags]"))
	}
	flags := flag.NewFlagSet(os.Args[1], flag.ExitOnError)
	endpoints := flags.String("endpoints", "127.0.0.1:2379", "comma-separated")
	workers := flags.Int("workers", 4, "concurrent clients")
	rounds := flags.Int("rounds", 20, "mutex: increments per worker")
	name := flags.String("name", "faultlab-election", "elect: the election")
	value := flags.String("value", "", "elect: this candidate's value")
	ttl := flags.Int("ttl", 2, "session TTL in seconds")
	accounts := flags.Int("accounts", 5, "bank: accounts")
	transfers := flags.Int("transfers", 40, "bank: transfers per worker (0: until stdin closes)")
	process := flags.String("process", "client", "counter: this client's name in the history")
	key := flags.String("key", "/faultlab/counter", "counter: where the counter is kept")
	lock := flags.String("lock", "/faultlab/counter-lock", "counter: the mutex's prefix")
	fenced := flags.Bool("fenced", false, "counter: write with a Txn guarded by ownership")
	hold := flags.Bool("hold", false, "counter: the holder that pauses between read and write")
	seconds := flags.Float64("duration-s", 5, "counter: how long to keep incrementing")
	_ = flags.Parse(os.Args[2:])
	eps := strings.Split(*endpoints, ",")

	var result any
	var err error
	switch os.Args[1] {
	case "mutex":
		result, err = mutex(eps, *workers, *rounds, *ttl)
	case "elect":
		result, err = elect(eps, *name, *value, *ttl)
	case "observe":
		err = observe(eps, *name)
		result = map[string]string{"observed": *name}
	case "counter":
		err = counter(counterArgs{eps, *process, *key, *lock, *ttl, *fenced, *hold,
			time.Duration(*seconds * float64(time.Second))})
		if err == nil {
			return // its events are its output
		}
	case "bank":
		result, err = bank(eps, *accounts, *workers, *transfers)
	default:
		err = fmt.Errorf("unknown subcommand %q", os.Args[1])
	}
	if err != nil {
		fail(err)
	}
	out, _ := json.Marshal(result)
	fmt.Println(string(out))
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "error:", err)
	os.Exit(1)
}

func client(endpoints []string) (*clientv3.Client, error) {
	return clientv3.New(clientv3.Config{Endpoints: endpoints, DialTimeout: 5 * time.Second})
}

// mutex: every worker, on its own client and session, takes the mutex, reads the counter,
// writes it back plus one, and lets go. Under a real mutex no increment is lost.
func mutex(endpoints []string, workers, rounds, ttl int) (map[string]int, error) {
	const counter = "/faultlab/mutex/counter"
	setup, err := client(endpoints)
	if err != nil {
		return nil, err
	}
	defer setup.Close()
	if _, err := setup.Put(context.Background(), counter, "0"); err != nil {
		return nil, err
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs <- mutexWorker(endpoints, rounds, ttl, counter)
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			return nil, err
		}
	}
	resp, err := setup.Get(context.Background(), counter)
	if err != nil {
		return nil, err
	}
	final, _ := strconv.Atoi(string(resp.Kvs[0].Value))
	return map[string]int{"expected": workers * rounds, "counter": final}, nil
}

func mutexWorker(endpoints []string, rounds, ttl int, counter string) error {
	cli, err := client(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl))
	if err != nil {
		return err
	}
	defer session.Close()
	m := concurrency.NewMutex(session, "/faultlab/mutex/lock")
	ctx := context.Background()
	for i := 0; i < rounds; i++ {
		if err := m.Lock(ctx); err != nil {
			return err
		}
		resp, err := cli.Get(ctx, counter)
		if err != nil {
			return err
		}
		n, _ := strconv.Atoi(string(resp.Kvs[0].Value))
		if _, err := cli.Put(ctx, counter, strconv.Itoa(n+1)); err != nil {
			return err
		}
		if err := m.Unlock(ctx); err != nil {
			return err
		}
	}
	return nil
}

// elect: campaign; once elected, print {"elected": value} and hold the leadership until
// stdin closes (then resign) or the process is killed (then the session's lease expires).
func elect(endpoints []string, name, value string, ttl int) (map[string]string, error) {
	cli, err := client(endpoints)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	session, err := concurrency.NewSession(cli, concurrency.WithTTL(ttl))
	if err != nil {
		return nil, err
	}
	defer session.Close()
	e := concurrency.NewElection(session, name)
	ctx := context.Background()
	if err := e.Campaign(ctx, value); err != nil {
		return nil, err
	}
	leader, err := e.Leader(ctx)
	if err != nil {
		return nil, err
	}
	fmt.Printf("{\"elected\": %q, \"leader\": %q}\n", value, string(leader.Kvs[0].Value))
	buf := make([]byte, 1)
	for {
		if _, err := os.Stdin.Read(buf); err != nil {
			break
		}
	}
	if err := e.Resign(ctx); err != nil {
		return nil, err
	}
	return map[string]string{"resigned": value}, nil
}

// bank: workers move random amounts between accounts in serializable STM transactions;
// the total never changes, and no balance goes below zero.
func bank(endpoints []string, accounts, workers, transfers int) (map[string]int, error) {
	cli, err := client(endpoints)
	if err != nil {
		return nil, err
	}
	defer cli.Close()
	ctx := context.Background()
	key := func(i int) string { return fmt.Sprintf("/faultlab/bank/%d", i) }
	for i := 0; i < accounts; i++ {
		if _, err := cli.Put(ctx, key(i), "100"); err != nil {
			return nil, err
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, workers)
	stop := make(chan struct{})
	if transfers == 0 { // until stdin closes: the caller decides how long
		go func() {
			buf := make([]byte, 1)
			for {
				if _, err := os.Stdin.Read(buf); err != nil {
					close(stop)
					return
				}
			}
		}()
	}
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func(seed int64) {
			defer wg.Done()
			rng := rand.New(rand.NewSource(seed))
			for t := 0; transfers == 0 || t < transfers; t++ {
				if transfers == 0 && stopped(stop) {
					return
				}
				from, to := rng.Intn(accounts), rng.Intn(accounts)
				amount := rng.Intn(30)
				err := retried(func() error {
					return transfer(cli, key, from, to, amount)
				})
				if err != nil {
					errs <- err
					return
				}
			}
		}(int64(w))
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		return nil, err
	}
	return balances(cli, key, accounts)
}

// transfer moves amount from one account to another in one serializable STM transaction,
// unless the first holds too little.
func transfer(cli *clientv3.Client, key func(int) string, from, to, amount int) error {
	_, err := concurrency.NewSTM(cli, func(stm concurrency.STM) error {
		a, _ := strconv.Atoi(stm.Get(key(from)))
		if a < amount || from == to {
			return nil
		}
		b, _ := strconv.Atoi(stm.Get(key(to)))
		stm.Put(key(from), strconv.Itoa(a-amount))
		stm.Put(key(to), strconv.Itoa(b+amount))
		return nil
	}, concurrency.WithIsolation(concurrency.Serializable))
	return err
}

// retried runs op until it succeeds, through the errors a leader's death or a partition
// gives (a leader changed, a request timed out, no leader): what a user's program does.
// A transfer that timed out may have applied; retrying it moves money again, which keeps
// the total all the same.
func retried(op func() error) error {
	deadline := time.Now().Add(60 * time.Second)
	for {
		err := op()
		if err == nil || time.Now().After(deadline) {
			return err
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func balances(cli *clientv3.Client, key func(int) string, accounts int) (map[string]int, error) {
	ctx := context.Background()
	total, negative := 0, 0
	for i := 0; i < accounts; i++ {
		resp, err := cli.Get(ctx, key(i))
		if err != nil {
			return nil, err
		}
		n, _ := strconv.Atoi(string(resp.Kvs[0].Value))
		total += n
		if n < 0 {
			negative++
		}
	}
	return map[string]int{"expected": 100 * accounts, "total": total, "negative": negative}, nil
}

// observe prints {"leader": value} each time the election's leader changes, until killed.
func observe(endpoints []string, name string) error {
	cli, err := client(endpoints)
	if err != nil {
		return err
	}
	defer cli.Close()
	session, err := concurrency.NewSession(cli)
	if err != nil {
		return err
	}
	defer session.Close()
	e := concurrency.NewElection(session, name)
	for resp := range e.Observe(context.Background()) {
		fmt.Printf("{\"leader\": %q}\n", string(resp.Kvs[0].Value))
	}
	return nil
}

func stopped(stop chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
