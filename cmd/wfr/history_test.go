package main

import (
	"regexp"
	"testing"

	"github.com/stretchr/testify/require"

	pb "github.com/workflow-runtime/workflow-runtime/proto/workflowruntime/v1"
)

func TestVersionsAndEvents(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	deploy(t, s, "history.dep", "0 12 * * *")
	s.ok(t, "pause", "history.dep")

	out := s.ok(t, "versions", "history.dep")
	require.Regexp(t, `(?m)^VERSION +WRITTEN +BY +TRIGGERS$`, out)
	require.Regexp(t, `(?m)^2 +\S+ +admin +cron 0 12 \* \* \*$`, out)
	require.Regexp(t, `(?m)^1 +\S+ +admin for alice +cron 0 12 \* \* \*$`, out)
	vs := okJSON(t, s, &pb.ListDeploymentVersionsResponse{}, "versions", "history.dep", "--limit", "1")
	require.Len(t, vs.GetVersions(), 1)
	require.EqualValues(t, 2, vs.GetVersions()[0].GetVersion())
	require.NotEmpty(t, vs.GetNextPageToken())
	vs = okJSON(t, s, &pb.ListDeploymentVersionsResponse{}, "versions", "history.dep", "--page-token", vs.GetNextPageToken())
	require.EqualValues(t, 1, vs.GetVersions()[0].GetVersion())

	out = s.ok(t, "events", "history.dep")
	require.Regexp(t, `(?m)^AT +ACTION +ACTOR +VERSION +STATUS +REASON$`, out)
	require.Regexp(t, `(?m)^\S+ +PAUSE +admin +1 → 2 +DEPLOYED → PAUSED$`, out)
	require.Regexp(t, `(?m)^\S+ +DEPLOY +admin for alice +1 +DEPLOYED$`, out, "the token's caller, for the name the file gave")
	require.Less(t, regexp.MustCompile(`PAUSE`).FindStringIndex(out)[0], regexp.MustCompile(`DEPLOY `).FindStringIndex(out)[0], "newest first")
	evs := okJSON(t, s, &pb.ListDeploymentEventsResponse{}, "events", "--workflow", "history.dep")
	require.Len(t, evs.GetEvents(), 2)
	require.Equal(t, "PAUSE", evs.GetEvents()[0].GetAction())

	s.fails(t, exitUsage, "events")
	s.fails(t, exitUsage, "events", "history.dep", "--workflow", "history.dep")
	s.fails(t, exitNotFound, "versions", "history.none")
	s.fails(t, exitInvalid, "versions", "history.dep", "--page-token", "!!")
}

func TestRollback(t *testing.T) {
	t.Parallel()
	s := sharedServer(t)
	deploy(t, s, "history.rollback", "0 12 * * *")
	s.ok(t, "pause", "history.rollback")

	s.fails(t, exitUsage, "rollback", "history.rollback", "--to", "1")
	s.fails(t, exitConflict, "rollback", "history.rollback", "--to", "1", "--expected-version", "1")
	s.fails(t, exitPrecondition, "rollback", "history.rollback", "--to", "2", "--expected-version", "2")
	s.fails(t, exitNotFound, "rollback", "history.rollback", "--to", "7", "--expected-version", "2")

	out := s.ok(t, "rollback", "history.rollback", "--to", "1", "--expected-version", "2")
	require.Regexp(t, `(?m)^Version: +3$`, out)
	d := okJSON(t, s, &pb.GetDeploymentStatusResponse{}, "get", "history.rollback")
	require.EqualValues(t, 3, d.GetDeployment().GetVersion())
	require.Equal(t, pb.DeploymentStatus_DEPLOYMENT_STATUS_PAUSED, d.GetDeployment().GetStatus(), "a rollback keeps the status")
	out = s.ok(t, "events", "history.rollback")
	require.Regexp(t, `(?m)^\S+ +ROLLBACK +admin +2 → 3 +PAUSED → PAUSED +rolled back to version 1$`, out, "the caller is the actor")
}
