package service

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// MaxAccessKeysPerUser is how many access keys a user may hold, as in RAM.
const MaxAccessKeysPerUser = 2

// keyOwner is the user an access key operation acts on: the named user, or
// the caller when no name is given (as RAM does).
func (s *Service) keyOwner(ctx context.Context, p rayfleet.Principal, name string) (rayfleet.User, error) {
	if name == "" {
		u, err := s.Store.GetUser(ctx, p.AccountID, p.UserUID)
		if err != nil {
			return u, fmt.Errorf("load caller: %w", err)
		}
		return u, nil
	}
	if err := checkUserName("UserName", name); err != nil {
		return rayfleet.User{}, err
	}
	return s.userByName(ctx, p, name)
}

// userResource is the RAM resource of a key operation's user.
func userResource(p rayfleet.Principal, name string) string {
	if name == "" {
		name = p.UserName
	}
	return ramResource(p, "user", name)
}

// CreateAccessKey makes a new access key for a user (the caller when
// userName is empty) and returns it with its secret, which is shown only
// here.
func (s *Service) CreateAccessKey(ctx context.Context, p rayfleet.Principal, userName string) (rayfleet.AccessKey, string, error) {
	if err := s.authorizeRAM(ctx, p, "CreateAccessKey", userResource(p, userName)); err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	unlock, err := s.lock(ctx, "user/"+p.AccountID+"/"+u.UID)
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	defer unlock()
	keys, err := s.Store.ListAccessKeys(ctx, p.AccountID, u.UID)
	if err != nil {
		return rayfleet.AccessKey{}, "", fmt.Errorf("list access keys: %w", err)
	}
	if len(keys) >= MaxAccessKeysPerUser {
		return rayfleet.AccessKey{}, "", rayfleet.Errorf(ERAMKeyLimit, "The user %s already has %d access keys, the most a user may have.", u.Name, len(keys))
	}
	id, secret, err := s.newAccessKey()
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	sealed, err := s.Sealer.Seal([]byte(secret))
	if err != nil {
		return rayfleet.AccessKey{}, "", err
	}
	k := rayfleet.AccessKey{ID: id, AccountID: p.AccountID, UserUID: u.UID, SecretSealed: sealed, Status: rayfleet.KeyActive, CreateTime: s.now()}
	if err := s.Store.CreateAccessKey(ctx, k); err != nil {
		return rayfleet.AccessKey{}, "", fmt.Errorf("create access key: %w", err)
	}
	return k, secret, nil
}

// ListAccessKeys lists a user's keys (the caller's when userName is empty).
func (s *Service) ListAccessKeys(ctx context.Context, p rayfleet.Principal, userName string) ([]rayfleet.AccessKey, error) {
	if err := s.authorizeRAM(ctx, p, "ListAccessKeys", userResource(p, userName)); err != nil {
		return nil, err
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return nil, err
	}
	keys, err := s.Store.ListAccessKeys(ctx, p.AccountID, u.UID)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	return keys, nil
}

// UpdateAccessKey enables or disables a key. A disabled key is refused from
// the next request on: this server forgets what it remembered of it, and
// the data-plane credentials got with it end.
func (s *Service) UpdateAccessKey(ctx context.Context, p rayfleet.Principal, userName, keyID, status string) error {
	if err := s.authorizeRAM(ctx, p, "UpdateAccessKey", userResource(p, userName)); err != nil {
		return err
	}
	if keyID == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "UserAccessKeyId is required")
	}
	if status != rayfleet.KeyActive && status != rayfleet.KeyInactive {
		return rayfleet.Errorf(rayfleet.EINVALID, "Status must be Active or Inactive, got %q", status)
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return err
	}
	err = s.Store.SetAccessKeyStatus(ctx, p.AccountID, u.UID, keyID, status)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Errorf(ERAMNoKey, "The access key %s of user %s does not exist.", keyID, u.Name)
	}
	if err != nil {
		return fmt.Errorf("update access key: %w", err)
	}
	s.auths.forget(keyID)
	if status == rayfleet.KeyInactive {
		s.revokeKey(p.AccountID, keyID)
	}
	return nil
}

// DeleteAccessKey removes a key; it, and the data-plane credentials got
// with it, are refused from the next request on.
func (s *Service) DeleteAccessKey(ctx context.Context, p rayfleet.Principal, userName, keyID string) error {
	if err := s.authorizeRAM(ctx, p, "DeleteAccessKey", userResource(p, userName)); err != nil {
		return err
	}
	if keyID == "" {
		return rayfleet.Errorf(rayfleet.EMISSING, "UserAccessKeyId is required")
	}
	u, err := s.keyOwner(ctx, p, userName)
	if err != nil {
		return err
	}
	err = s.Store.DeleteAccessKey(ctx, p.AccountID, u.UID, keyID)
	if rayfleet.IsNotFound(err) {
		return rayfleet.Errorf(ERAMNoKey, "The access key %s of user %s does not exist.", keyID, u.Name)
	}
	if err != nil {
		return fmt.Errorf("delete access key: %w", err)
	}
	s.auths.forget(keyID)
	s.revokeKey(p.AccountID, keyID)
	return nil
}
