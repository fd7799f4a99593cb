package sqlite_test

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/workflow-runtime/workflow-runtime/pkg/store"
	"github.com/workflow-runtime/workflow-runtime/pkg/workflow"
)

// BenchmarkWrites measures the hot writes from concurrent callers: each
// execution created, then moved to RUNNING, two commits with a WAL sync each.
//
//	go test -run '^$' -bench Writes -benchtime 2s ./pkg/store/sqlite/
func BenchmarkWrites(b *testing.B) {
	ctx := context.Background()
	s := open(b, filepath.Join(b.TempDir(), "wfr.db"))
	d := deploy(b, s, "wf-bench")
	b.SetParallelism(4)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			e := &workflow.Execution{WorkflowID: d.WorkflowID, DeploymentID: d.ID, DeploymentVersion: 1,
				TriggerType: workflow.TriggerManual, Status: workflow.ExecutionPending, FiredTime: time.Now(), OwnerInstance: "r"}
			if _, err := s.CreateExecution(ctx, e); err != nil {
				b.Fatal(err)
			}
			if _, err := s.TransitionExecution(ctx, e.ID, store.Transition{
				From: []workflow.ExecutionStatus{workflow.ExecutionPending}, To: workflow.ExecutionRunning}); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "executions/s")
}
