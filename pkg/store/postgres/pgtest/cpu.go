package pgtest

import (
	"context"
	"database/sql"
	"math"
	"os"
	"strconv"
	"strings"
)

// ServerCPU returns the user and system CPU seconds of the PostgreSQL
// processes of this host, less the backends of databases other than db's:
// other tests share the server, and their backends' work is not the
// benchmark's. Background processes (WAL writer, checkpointer, autovacuum)
// serve every database and are counted whole. A backend that ended between
// two readings takes its seconds with it: benchmarks keep their pools open.
func ServerCPU(ctx context.Context, db *sql.DB) (float64, error) {
	rows, err := db.QueryContext(ctx, `SELECT pid FROM pg_stat_activity WHERE datname IS NOT NULL AND datname <> current_database()`)
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	others := map[int]bool{}
	for rows.Next() {
		var pid int
		if err := rows.Scan(&pid); err != nil {
			return 0, err
		}
		others[pid] = true
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	procs, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	var sec float64
	for _, p := range procs {
		pid, err := strconv.Atoi(p.Name())
		if err != nil || others[pid] {
			continue
		}
		comm, err := os.ReadFile("/proc/" + p.Name() + "/comm")
		if err != nil || strings.TrimSpace(string(comm)) != "postgres" {
			continue // gone meanwhile, or not PostgreSQL
		}
		if s := ProcessCPU(pid); !math.IsNaN(s) { // NaN when it ended meanwhile
			sec += s
		}
	}
	return sec, nil
}

// ProcessCPU returns the user and system CPU seconds of process pid; NaN
// when it cannot be read.
func ProcessCPU(pid int) float64 {
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return math.NaN()
	}
	// Fields after the command name, which may hold spaces: state is the
	// first, utime and stime the 12th and 13th (in clock ticks of 1/100 s).
	s := string(raw)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+1:])
	if len(f) < 13 {
		return math.NaN()
	}
	u, err1 := strconv.ParseFloat(f[11], 64)
	k, err2 := strconv.ParseFloat(f[12], 64)
	if err1 != nil || err2 != nil {
		return math.NaN()
	}
	return (u + k) / 100
}
