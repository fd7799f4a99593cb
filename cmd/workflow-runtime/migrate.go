package main

import (
	"context"
	"fmt"
	"io"

	"github.com/workflow-runtime/workflow-runtime/migrations"
	"github.com/workflow-runtime/workflow-runtime/pkg/config"
	"github.com/workflow-runtime/workflow-runtime/pkg/store/postgres"
)

func migrate(ctx context.Context, direction string, args []string, stdout, stderr io.Writer, getenv func(string) string) int {
	cfg, err := config.Load("migrate "+direction, args, getenv, stderr)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 2
	}
	if cfg.DatabaseURL == "" {
		// The embedded database migrates itself when serve opens it.
		fmt.Fprintln(stderr, "migrate works on PostgreSQL: set WFR_DATABASE_URL (the embedded SQLite database migrates itself on serve)")
		return 2
	}
	st, err := postgres.Open(ctx, cfg.DatabaseURL, cfg.DBMaxConns)
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	defer st.Close()
	db := st.DB().DB
	switch direction {
	case "up":
		err = migrations.Up(ctx, db)
	case "down":
		err = migrations.Down(ctx, db)
	case "status":
		err = migrations.Status(ctx, db, stdout)
	default:
		fmt.Fprintf(stderr, "unknown migrate direction %q: use up, down or status\n", direction)
		return 2
	}
	if err != nil {
		fmt.Fprintln(stderr, err)
		return 1
	}
	return 0
}
