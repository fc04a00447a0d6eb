// Command ferretdb runs FerretDB v1 embedded, so that development and CI have a
// real MongoDB wire-protocol server without Docker. Its backend is PostgreSQL
// (-postgresql-url): deploy/infra.sh, make run, make test and CI all run it so, with
// deploy/postgres/tuning.sql applied. -sqlite-dir (FerretDB's SQLite backend) is kept
// only to reproduce the comparison in README.md: on SQLite FerretDB 1.24 evaluates
// every filter in Go over every document, far too slow for the services.
//
// FerretDB itself listens on a private Unix socket; the public address is served
// by the proxy in proxy.go, which runs each read-modify-write command alone on its
// collection or document, so that updates are atomic with their filters as on
// MongoDB (FerretDB 1.24 reads and writes back in separate steps), splits
// multi-statement updates so that any number of statements completes (split.go),
// and answers a find by {_id: {$in: [...]}} with one _id lookup per value instead
// of FerretDB's full scan (findin.go).
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"net"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"
	"time"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "address to listen on")
	postgres := flag.String("postgresql-url", "", "PostgreSQL URL of the backend")
	dir := flag.String("sqlite-dir", "", "SQLite data directory (instead of PostgreSQL)")
	socket := flag.String("backend-socket", "",
		"Unix socket FerretDB itself listens on, behind the proxy [a new file in the temporary folder]")
	flag.Parse()

	if *socket == "" {
		*socket = filepath.Join(os.TempDir(), fmt.Sprintf("ferretdb-%d.sock", os.Getpid()))
	}
	_ = os.Remove(*socket) // left behind by a killed predecessor
	defer os.Remove(*socket)

	config := &ferretdb.Config{Listener: ferretdb.ListenerConfig{Unix: *socket}}
	switch {
	case *postgres != "":
		config.Handler = "postgresql"
		config.PostgreSQLURL = *postgres
	case *dir != "":
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			log.Fatalf("ferretdb: cannot create %s: %v", *dir, err)
		}
		config.Handler = "sqlite"
		config.SQLiteURL = "file:" + *dir + "/"
	default:
		log.Fatal("ferretdb: give -postgresql-url or -sqlite-dir")
	}
	f, err := ferretdb.New(config)
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	done := make(chan struct{})
	go func() {
		f.Run(ctx)
		close(done)
	}()

	// Listen publicly only once FerretDB answers behind us, so that a client that
	// connects is served at once.
	dial := func() (net.Conn, error) { return net.Dial("unix", *socket) }
	for i := 0; ; i++ {
		conn, err := dial()
		if err == nil {
			conn.Close()
			break
		}
		if i == 300 {
			log.Fatalf("ferretdb: its socket %s did not open: %v", *socket, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	ln, err := net.Listen("tcp", *listen)
	if err != nil {
		log.Fatalf("ferretdb: %v", err)
	}
	go proxy(ln, dial, newLocks())
	log.Printf("ferretdb listening on %s with the %s backend (atomic writes, via %s)",
		*listen, config.Handler, *socket)

	select {
	case <-ctx.Done():
	case <-done:
	}
	ln.Close()
	<-done
}
