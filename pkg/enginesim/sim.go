// Package enginesim is engine-sim: a reference workflow engine that speaks
// workflow_engine.WorkflowService (API.md §3) without running anything.
//
// Each execution's fate (how long it runs, whether it fails, whether it hangs)
// is drawn once, when it starts, from Config.Seed and its idempotency key, so
// a test that repeats a scenario sees the same outcomes. Status is derived from
// the clock on every read rather than driven by timers, so an injected clock
// moves executions forward without any goroutine or sleep. Every accepted
// ExecuteWorkflow call is counted per idempotency key, which is what lets a
// test prove that the runtime dispatched each execution exactly once.
package enginesim

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"hash/fnv"
	"maps"
	"math/rand/v2"
	"strconv"
	"sync"
	"time"

	"github.com/google/uuid"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/status"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflow_engine"
)

// Metadata keys the simulator reads from requests or adds to executions.
const (
	// MetaIdempotencyKey is the request metadata key that ExecuteWorkflow
	// dedupes on and counts calls by.
	MetaIdempotencyKey = "idempotency_key"
	// MetaResult holds the JSON result of a SUCCESS execution.
	MetaResult = "result"
	// MetaErrorMessage holds the failure of an ERROR execution, since
	// ExecutionData has no error field.
	MetaErrorMessage = "error_message"
	// MetaCancelReason holds the reason given to CancelExecution, if any.
	MetaCancelReason = "cancel_reason"
)

// Config sets how simulated executions behave. The zero Config finishes every
// execution successfully at once.
type Config struct {
	// MinDuration and MaxDuration bound how long an execution runs; every
	// execution runs exactly MinDuration when they are equal.
	MinDuration, MaxDuration time.Duration
	// FailureRate is the probability (0..1) that a finishing execution ends
	// in ERROR rather than SUCCESS.
	FailureRate float64
	// HangRate is the probability (0..1) that an execution never finishes;
	// it stays RUNNING until canceled.
	HangRate float64
	// Seed, with the idempotency key, decides each execution's fate.
	Seed int64
	// AcceptDelay is how long ExecuteWorkflow takes to answer once it has
	// started an execution, as an engine under load does: a caller that
	// gives up meanwhile, or an engine frozen then, leaves an execution
	// running that the caller never heard of. A call that repeats the
	// idempotency key of a started execution answers at once.
	AcceptDelay time.Duration
	// Now is the clock; nil means time.Now. Tests inject one they advance.
	Now func() time.Time
}

// Validate reports every setting outside its range, so that a command line
// can refuse what New would otherwise silently clamp.
func (c Config) Validate() error {
	var errs []error
	if c.MinDuration < 0 {
		errs = append(errs, fmt.Errorf("min duration %v is negative", c.MinDuration))
	}
	if c.MaxDuration < c.MinDuration {
		errs = append(errs, fmt.Errorf("max duration %v is below min duration %v", c.MaxDuration, c.MinDuration))
	}
	if c.FailureRate < 0 || c.FailureRate > 1 {
		errs = append(errs, fmt.Errorf("failure rate %v is outside 0..1", c.FailureRate))
	}
	if c.HangRate < 0 || c.HangRate > 1 {
		errs = append(errs, fmt.Errorf("hang rate %v is outside 0..1", c.HangRate))
	}
	if c.AcceptDelay < 0 {
		errs = append(errs, fmt.Errorf("accept delay %v is negative", c.AcceptDelay))
	}
	return errors.Join(errs...)
}

// fate is what happens to an execution, decided when it starts.
type fate int

const (
	fateSucceed fate = iota
	fateFail
	fateHang
)

// execution is one started execution. Its status is not stored but derived
// from start, duration, fate and canceledAt at the time of asking.
type execution struct {
	id          string
	key         string
	workflowID  string
	mode        pb.ExecutionMode
	triggeredBy string
	metadata    map[string]string
	start       time.Time
	duration    time.Duration
	fate        fate
	canceled    bool
	canceledAt  time.Time
}

// Sim is the simulated engine. It implements pb.WorkflowServiceServer and is
// safe for concurrent use; it keeps every execution it has started, so its
// memory grows with their number.
type Sim struct {
	pb.UnimplementedWorkflowServiceServer

	cfg Config

	mu    sync.Mutex
	calls map[string]int        // accepted ExecuteWorkflow calls by idempotency key
	byKey map[string]string     // idempotency key → execution id, for dedupe
	execs map[string]*execution // by execution id
	// keyless counts executions started without an idempotency key, to give
	// each a distinct yet repeatable fate.
	keyless int
}

// New returns a simulator. Out-of-range settings are clamped: negative
// durations to zero, MaxDuration up to MinDuration, rates into 0..1.
func New(cfg Config) *Sim {
	cfg.MinDuration = max(cfg.MinDuration, 0)
	cfg.MaxDuration = max(cfg.MaxDuration, cfg.MinDuration)
	cfg.FailureRate = min(max(cfg.FailureRate, 0), 1)
	cfg.HangRate = min(max(cfg.HangRate, 0), 1)
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Sim{
		cfg:   cfg,
		calls: map[string]int{},
		byKey: map[string]string{},
		execs: map[string]*execution{},
	}
}

// ExecuteWorkflow starts an execution, or, when metadata["idempotency_key"]
// names one already started, returns that execution's id and current status
// without starting another. Calls without a key are counted under "" and are
// never deduped, since nothing says two of them are the same request.
// A request without workflow_id is rejected with InvalidArgument and not
// counted: it reaches no execution.
func (s *Sim) ExecuteWorkflow(ctx context.Context, req *pb.ExecuteWorkflowRequest) (*pb.ExecuteWorkflowResponse, error) {
	if req.GetWorkflowId() == "" {
		return nil, status.Error(codes.InvalidArgument, "workflow_id is required")
	}
	resp, started := s.execute(req)
	if started && s.cfg.AcceptDelay > 0 {
		t := time.NewTimer(s.cfg.AcceptDelay)
		defer t.Stop()
		select {
		case <-t.C:
		case <-ctx.Done():
			// The execution stays started; the caller, who gave up, must
			// hear so even when this answer would beat its own timer.
			return nil, status.FromContextError(ctx.Err()).Err()
		}
	}
	return resp, nil
}

// execute starts req's execution, or finds the one its idempotency key
// names, and reports whether it started one.
func (s *Sim) execute(req *pb.ExecuteWorkflowRequest) (*pb.ExecuteWorkflowResponse, bool) {
	key := req.GetMetadata()[MetaIdempotencyKey]
	now := s.cfg.Now()

	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls[key]++
	if key != "" {
		if id, ok := s.byKey[key]; ok {
			return &pb.ExecuteWorkflowResponse{
				ExecutionId: id,
				Status:      s.execs[id].status(now),
				Message:     "duplicate idempotency_key: returning the existing execution",
			}, false
		}
	}

	fateKey := key
	if key == "" {
		s.keyless++
		// The NUL cannot occur in a key sent over gRPC by the runtime, so a
		// keyless execution never shares its fate with a keyed one by accident.
		fateKey = "\x00keyless:" + strconv.Itoa(s.keyless)
	}
	e := &execution{
		id:          uuid.NewString(),
		key:         key,
		workflowID:  req.GetWorkflowId(),
		mode:        req.GetMode(),
		triggeredBy: req.GetTriggeredBy(),
		metadata:    maps.Clone(req.GetMetadata()),
		start:       now,
	}
	e.duration, e.fate = s.decide(fateKey)
	s.execs[e.id] = e
	if key != "" {
		s.byKey[key] = e.id
	}
	// A new execution is reported RUNNING even with a zero duration: the
	// engine has only accepted it, and its end is for GetExecutionStatus.
	return &pb.ExecuteWorkflowResponse{ExecutionId: e.id, Status: pb.ExecutionStatus_RUNNING}, true
}

// decide draws an execution's duration and fate from the seed and key. The
// draws are made in a fixed order and all of them every time, so changing one
// rate does not reshuffle the others' outcomes for the same key.
func (s *Sim) decide(key string) (time.Duration, fate) {
	h := fnv.New64a()
	h.Write([]byte(key))
	r := rand.New(rand.NewPCG(uint64(s.cfg.Seed), h.Sum64()))

	d := s.cfg.MinDuration
	if span := s.cfg.MaxDuration - s.cfg.MinDuration; span > 0 {
		d += time.Duration(r.Int64N(int64(span) + 1))
	}
	hang := r.Float64() < s.cfg.HangRate
	fail := r.Float64() < s.cfg.FailureRate
	switch {
	case hang:
		return d, fateHang
	case fail:
		return d, fateFail
	}
	return d, fateSucceed
}

// GetExecutionStatus reports an execution as of now: RUNNING until its
// duration has passed (forever if it hangs), then SUCCESS or ERROR, or
// CANCELED once canceled. Unknown ids, the empty one included, give
// found=false rather than an error, as a real engine that forgot them would.
func (s *Sim) GetExecutionStatus(_ context.Context, req *pb.GetExecutionStatusRequest) (*pb.GetExecutionStatusResponse, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[req.GetExecutionId()]
	if !ok {
		return &pb.GetExecutionStatusResponse{Found: false, Message: "execution not found"}, nil
	}
	return &pb.GetExecutionStatusResponse{Execution: e.data(now), Found: true}, nil
}

// CancelExecution cancels a RUNNING execution, hung ones included. It
// refuses, with success=false and a message, unknown ids and executions that
// have already finished or been canceled.
func (s *Sim) CancelExecution(_ context.Context, req *pb.CancelExecutionRequest) (*pb.CancelExecutionResponse, error) {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	e, ok := s.execs[req.GetExecutionId()]
	if !ok {
		return &pb.CancelExecutionResponse{Success: false, Message: "execution not found"}, nil
	}
	if st := e.status(now); st != pb.ExecutionStatus_RUNNING {
		return &pb.CancelExecutionResponse{Success: false, Message: "execution already ended with status " + st.String()}, nil
	}
	e.canceled = true
	e.canceledAt = now
	if req.GetReason() != "" {
		if e.metadata == nil {
			e.metadata = map[string]string{}
		}
		e.metadata[MetaCancelReason] = req.GetReason()
	}
	return &pb.CancelExecutionResponse{Success: true, Message: "execution canceled"}, nil
}

// Calls returns a copy of the accepted ExecuteWorkflow calls per idempotency
// key; calls without a key are under "".
func (s *Sim) Calls() map[string]int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return maps.Clone(s.calls)
}

// Executions returns how many executions have been started; deduped calls
// start none.
func (s *Sim) Executions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.execs)
}

// Run is one execution as the engine ran it: what a test reads to tell
// which executions were alive at once, and whether an execution the runtime
// ended still runs.
type Run struct {
	ExecutionID    string `json:"execution_id"`
	WorkflowID     string `json:"workflow_id"`
	IdempotencyKey string `json:"idempotency_key"`
	// Status is the contract's name of the execution's status now.
	Status string    `json:"status"`
	Start  time.Time `json:"start"`
	// End is when the execution ended, nil while it runs.
	End *time.Time `json:"end,omitempty"`
}

// Runs returns every execution started, in no particular order.
func (s *Sim) Runs() []Run {
	now := s.cfg.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	out := make([]Run, 0, len(s.execs))
	for _, e := range s.execs {
		r := Run{ExecutionID: e.id, WorkflowID: e.workflowID, IdempotencyKey: e.key, Status: e.status(now).String(), Start: e.start}
		if end := e.end(now); !end.IsZero() {
			r.End = &end
		}
		out = append(out, r)
	}
	return out
}

// status is e's status at now.
func (e *execution) status(now time.Time) pb.ExecutionStatus {
	switch {
	case e.canceled:
		return pb.ExecutionStatus_CANCELED
	case e.fate == fateHang || now.Before(e.start.Add(e.duration)):
		return pb.ExecutionStatus_RUNNING
	case e.fate == fateFail:
		return pb.ExecutionStatus_ERROR
	}
	return pb.ExecutionStatus_SUCCESS
}

// data renders e at now. end_time is when the execution ended, not when it
// was asked about, so repeated reads of a finished execution agree.
func (e *execution) data(now time.Time) *pb.ExecutionData {
	st := e.status(now)
	md := maps.Clone(e.metadata)
	if md == nil {
		md = map[string]string{}
	}
	switch st {
	case pb.ExecutionStatus_SUCCESS:
		md[MetaResult] = e.result()
	case pb.ExecutionStatus_ERROR:
		md[MetaErrorMessage] = "engine-sim: simulated failure of execution " + e.id
	default:
		// RUNNING has nothing to report yet, and CANCELED's reason was
		// stored by CancelExecution; status gives no other value.
	}
	var end int64
	if t := e.end(now); !t.IsZero() {
		end = t.UnixMilli()
	}
	return &pb.ExecutionData{
		ExecutionId: e.id,
		WorkflowId:  e.workflowID,
		Status:      st,
		StartTime:   e.start.UnixMilli(),
		EndTime:     end,
		Mode:        e.mode,
		TriggeredBy: e.triggeredBy,
		Metadata:    md,
	}
}

// end is when e ended, as of now; zero while it runs.
func (e *execution) end(now time.Time) time.Time {
	switch e.status(now) {
	case pb.ExecutionStatus_CANCELED:
		return e.canceledAt
	case pb.ExecutionStatus_SUCCESS, pb.ExecutionStatus_ERROR:
		return e.start.Add(e.duration)
	default:
		// Still RUNNING, the only other value status gives.
		return time.Time{}
	}
}

// result is the small JSON document a SUCCESS execution reports.
func (e *execution) result() string {
	// Marshalling a struct of strings and a bool cannot fail.
	b, _ := json.Marshal(struct {
		OK          bool   `json:"ok"`
		ExecutionID string `json:"execution_id"`
		WorkflowID  string `json:"workflow_id"`
	}{true, e.id, e.workflowID})
	return string(b)
}
