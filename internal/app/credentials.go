package app

import (
	"context"
	"errors"
	"fmt"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// rootCredentials reads again from the database what a first start wrote
// to the credentials file: the first account's oldest active root access
// key, its secret unsealed, and the account's default workspace. It is how
// a damaged credentials file is rewritten.
func (s *Server) rootCredentials(ctx context.Context) (Credentials, error) {
	accts, err := s.Store.ListAccounts(ctx)
	if err != nil {
		return Credentials{}, err
	}
	for _, a := range accts {
		users, err := s.Store.ListUsers(ctx, a.ID)
		if err != nil {
			return Credentials{}, err
		}
		for _, u := range users {
			if !u.Root {
				continue
			}
			keys, err := s.Store.ListAccessKeys(ctx, a.ID, u.UID)
			if err != nil {
				return Credentials{}, err
			}
			for _, k := range keys {
				if k.Status != rayfleet.KeyActive {
					continue
				}
				secret, err := s.Service.Sealer.Open(k.SecretSealed)
				if err != nil {
					return Credentials{}, fmt.Errorf("access key %s: %w", k.ID, err)
				}
				cred := Credentials{AccessKeyID: k.ID, AccessKeySecret: string(secret), UserID: a.ID}
				ws, _, err := s.Store.ListWorkspaces(ctx, store.WorkspaceFilter{AccountID: a.ID, Name: "default", Limit: 1})
				if err == nil && len(ws) == 0 {
					ws, _, err = s.Store.ListWorkspaces(ctx, store.WorkspaceFilter{AccountID: a.ID, Limit: 1})
				}
				if err != nil {
					return Credentials{}, err
				}
				if len(ws) > 0 {
					cred.WorkspaceID = ws[0].ID
				}
				return cred, nil
			}
		}
	}
	return Credentials{}, errors.New("no account has an active root access key")
}
