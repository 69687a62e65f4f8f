package logstore

import (
	"context"
	"strings"
	"testing"

	"github.com/rayfleet/rayfleet/internal/s3test"
)

// s3Server starts a real S3-compatible server (s3test) and returns a
// store of its bucket rayfleet-logs, checked.
func s3Server(t *testing.T) *S3 {
	t.Helper()
	srv := s3test.Start(t, "rayfleet-logs")
	s := &S3{Endpoint: srv.Endpoint, BucketName: srv.Bucket, AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey}
	if err := s.Validate(); err != nil {
		t.Fatal(err)
	}
	if err := s.Check(context.Background()); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestS3Contract: what every Store does, on a real S3-compatible server.
func TestS3Contract(t *testing.T) {
	s := s3Server(t)
	testContract(t, s)

	// Wrong credentials, or a missing bucket, are errors that say so.
	bad := *s
	bad.SecretAccessKey = "wrong"
	if err := bad.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("a wrong secret: %v", err)
	}
	none := *s
	none.BucketName = "no-such-bucket"
	if err := none.Check(context.Background()); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Fatalf("a missing bucket: %v", err)
	}
	if _, err := none.Stat(context.Background(), "w-1/x"); err == nil {
		t.Fatal("stat in a missing bucket succeeded")
	}
}

func TestS3Validate(t *testing.T) {
	ok := S3{Endpoint: "https://s3.example.com", BucketName: "rayfleet-logs", AccessKeyID: "a", SecretAccessKey: "s"}
	if err := ok.Validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []func(*S3){
		func(s *S3) { s.Endpoint = "" }, func(s *S3) { s.Endpoint = "s3.example.com" }, func(s *S3) { s.AccessKeyID = "" },
		func(s *S3) { s.SecretAccessKey = "" }, func(s *S3) { s.BucketName = "Bad_Bucket" },
	} {
		s := ok
		bad(&s)
		if s.Validate() == nil {
			t.Errorf("%+v accepted", s)
		}
	}
}
