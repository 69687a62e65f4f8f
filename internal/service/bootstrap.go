package service

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/rayfleet/rayfleet"
)

// Bootstrapped is what a first start created: the root credentials to hand
// to the operator.
type Bootstrapped struct {
	AccountID       string
	UserUID         string
	AccessKeyID     string
	AccessKeySecret string
	WorkspaceID     string
}

// Bootstrap creates, when the store holds no account yet, the default
// account, its root user, a root access key and a workspace named "default"
// with its root queue and network service. It returns nil when there was
// already an account.
func (s *Service) Bootstrap(ctx context.Context) (*Bootstrapped, error) {
	accts, err := s.Store.ListAccounts(ctx)
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	if len(accts) > 0 {
		return nil, nil
	}
	acctID, err := s.newAccountID()
	if err != nil {
		return nil, err
	}
	uid, err := s.newUserUID()
	if err != nil {
		return nil, err
	}
	now := s.now()
	// The account row is written last: a crash halfway leaves no account, so
	// the next start bootstraps again. The rows written before it belong to
	// an account id nobody ever learnt (the credentials file is written only
	// after Bootstrap returns), so they are inert.
	root := rayfleet.User{UID: uid, AccountID: acctID, Name: "root", Nickname: "root", Root: true, CreateTime: now}
	if err := s.Store.CreateUser(ctx, root); err != nil {
		return nil, fmt.Errorf("create root user: %w", err)
	}
	keyID, secret, err := s.newAccessKey()
	if err != nil {
		return nil, err
	}
	sealed, err := s.Sealer.Seal([]byte(secret))
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateAccessKey(ctx, rayfleet.AccessKey{
		ID: keyID, AccountID: acctID, UserUID: uid, SecretSealed: sealed, Status: rayfleet.KeyActive, CreateTime: now,
	}); err != nil {
		return nil, fmt.Errorf("create root access key: %w", err)
	}
	p := rayfleet.Principal{AccountID: acctID, UserUID: uid, UserName: root.Name, Nickname: root.Nickname, Root: true}
	wsID, err := s.createWorkspace(ctx, p, CreateWorkspaceInput{Name: "default", CU: DefaultWorkspaceCU, PaymentType: "PayAsYouGo", ReleaseType: "pro"}, noGuard)
	if err != nil {
		return nil, err
	}
	if err := s.Store.CreateAccount(ctx, rayfleet.Account{ID: acctID, Name: "default", CreateTime: now}); err != nil {
		return nil, fmt.Errorf("create account: %w", err)
	}
	return &Bootstrapped{AccountID: acctID, UserUID: uid, AccessKeyID: keyID, AccessKeySecret: secret, WorkspaceID: wsID}, nil
}

// authCacheTTL is how long Authenticate trusts what it last read of an
// access key and its user. Every request names its key, and reading both
// anew would cost two store queries per request; the price is that a key
// disabled, or a user removed, keeps working for up to this long on a
// server that accepted it just before. Refusals are never remembered, so a
// new key works at once.
const authCacheTTL = 2 * time.Second

// authCacheMax bounds the keys remembered; past it the cache starts over.
const authCacheMax = 10_000

// authCache remembers recent successful Authenticate answers.
type authCache struct {
	mu sync.Mutex
	m  map[string]authEntry
	// gen counts forgets: an answer read before one is not remembered, so
	// a key disabled while a request was reading it is not put back.
	gen uint64
}

type authEntry struct {
	p       rayfleet.Principal
	secret  string
	expires time.Time
}

func (c *authCache) get(id string, now time.Time) (authEntry, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	e, ok := c.m[id]
	if !ok || !now.Before(e.expires) {
		return authEntry{}, false
	}
	return e, true
}

func (c *authCache) generation() uint64 {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.gen
}

func (c *authCache) put(gen uint64, id string, e authEntry) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if gen != c.gen {
		return
	}
	if c.m == nil || len(c.m) >= authCacheMax {
		c.m = map[string]authEntry{}
	}
	c.m[id] = e
}

// forget drops what the cache remembers of one key.
func (c *authCache) forget(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.m, id)
	c.gen++
}

// clear forgets every key.
func (c *authCache) clear() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.m = nil
	c.gen++
}

// Authenticate finds the access key a request names and returns its secret
// and the principal it stands for. An unknown key, a key of a deleted
// account and a disabled key are refused with the hosted product's codes.
// A key accepted within the last authCacheTTL is accepted again without
// reading the store.
func (s *Service) Authenticate(ctx context.Context, accessKeyID string) (rayfleet.Principal, string, error) {
	now := s.Now()
	if e, ok := s.auths.get(accessKeyID, now); ok {
		return e.p, e.secret, nil
	}
	gen := s.auths.generation()
	p, secret, err := s.authenticate(ctx, accessKeyID)
	if err != nil {
		return p, secret, err
	}
	s.auths.put(gen, accessKeyID, authEntry{p: p, secret: secret, expires: now.Add(authCacheTTL)})
	return p, secret, nil
}

func (s *Service) authenticate(ctx context.Context, accessKeyID string) (rayfleet.Principal, string, error) {
	p, k, err := s.keyPrincipal(ctx, accessKeyID)
	if err != nil {
		return p, "", err
	}
	secret, err := s.Sealer.Open(k.SecretSealed)
	if err != nil {
		return rayfleet.Principal{}, "", fmt.Errorf("open access key secret: %w", err)
	}
	return p, string(secret), nil
}

// keyPrincipal reads an access key and its user from the store, without
// the secret: the principal the key stands for while it is active and its
// user exists.
func (s *Service) keyPrincipal(ctx context.Context, accessKeyID string) (rayfleet.Principal, rayfleet.AccessKey, error) {
	k, err := s.Store.GetAccessKey(ctx, accessKeyID)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Principal{}, k, rayfleet.Errorf(rayfleet.EAKNOTFOUND, "Specified access key is not found.")
	}
	if err != nil {
		return rayfleet.Principal{}, k, fmt.Errorf("load access key: %w", err)
	}
	if k.Status != rayfleet.KeyActive {
		return rayfleet.Principal{}, k, rayfleet.Errorf(rayfleet.EAKINACTIVE, "Specified access key is disabled.")
	}
	u, err := s.Store.GetUser(ctx, k.AccountID, k.UserUID)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Principal{}, k, rayfleet.Errorf(rayfleet.EAKNOTFOUND, "Specified access key is not found.")
	}
	if err != nil {
		return rayfleet.Principal{}, k, fmt.Errorf("load user: %w", err)
	}
	return rayfleet.Principal{
		AccountID: k.AccountID, UserUID: u.UID, UserName: u.Name, Nickname: u.Nickname, Root: u.Root, AccessKeyID: k.ID,
	}, k, nil
}
