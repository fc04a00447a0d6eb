// Command ferretdb runs FerretDB v1 embedded, so that development and CI have a
// real MongoDB wire-protocol server without Docker. deploy/infra.sh uses the SQLite
// backend; -postgresql-url selects PostgreSQL for those who run one.
package main

import (
	"context"
	"flag"
	"log"
	"os"
	"os/signal"
	"syscall"

	"github.com/FerretDB/FerretDB/ferretdb"
)

func main() {
	listen := flag.String("listen", "127.0.0.1:27017", "address to listen on")
	postgres := flag.String("postgresql-url", "", "PostgreSQL URL of the backend")
	dir := flag.String("sqlite-dir", "", "SQLite data directory (instead of PostgreSQL)")
	flag.Parse()

	config := &ferretdb.Config{Listener: ferretdb.ListenerConfig{TCP: *listen}}
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
	log.Printf("ferretdb listening on %s with the %s backend", *listen, config.Handler)
	f.Run(ctx)
}
