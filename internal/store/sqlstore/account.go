package sqlstore

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
)

// CreateAccount stores a new account.
func (s *Store) CreateAccount(ctx context.Context, a rayfleet.Account) error {
	_, err := s.exec(ctx, "INSERT INTO accounts (id, name, create_time) VALUES (?, ?, ?)",
		a.ID, a.Name, toMS(a.CreateTime))
	switch {
	case s.d.isUnique(err):
		return alreadyExists("account", a.ID)
	case err != nil:
		return fmt.Errorf("create account %s: %w", a.ID, err)
	}
	return nil
}

// GetAccount loads an account.
func (s *Store) GetAccount(ctx context.Context, id string) (rayfleet.Account, error) {
	a := rayfleet.Account{ID: id}
	var ct int64
	found, err := s.row(ctx, "SELECT name, create_time FROM accounts WHERE id = ?", []any{id}, &a.Name, &ct)
	if err != nil {
		return rayfleet.Account{}, fmt.Errorf("get account %s: %w", id, err)
	}
	if !found {
		return rayfleet.Account{}, notFound("account", id)
	}
	a.CreateTime = fromMS(ct)
	return a, nil
}

// ListAccounts returns every account, oldest first.
func (s *Store) ListAccounts(ctx context.Context) ([]rayfleet.Account, error) {
	rows, err := s.query(ctx, "SELECT id, name, create_time FROM accounts ORDER BY create_time, id")
	if err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.Account
	for rows.Next() {
		var a rayfleet.Account
		var ct int64
		if err := rows.Scan(&a.ID, &a.Name, &ct); err != nil {
			return nil, fmt.Errorf("list accounts: %w", err)
		}
		a.CreateTime = fromMS(ct)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list accounts: %w", err)
	}
	return out, nil
}

// CreateUser stores a new user.
func (s *Store) CreateUser(ctx context.Context, u rayfleet.User) error {
	_, err := s.exec(ctx, "INSERT INTO users (uid, account_id, name, nickname, comments, root, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
		u.UID, u.AccountID, u.Name, u.Nickname, u.Comments, boolInt(u.Root), toMS(u.CreateTime), toMS(u.UpdateTime))
	switch {
	case s.d.isUnique(err):
		return rayfleet.Errorf(rayfleet.EDENIED, "user %s (%s) already exists", u.Name, u.UID)
	case err != nil:
		return fmt.Errorf("create user %s: %w", u.UID, err)
	}
	return nil
}

// GetUser loads a user of an account.
func (s *Store) GetUser(ctx context.Context, accountID, uid string) (rayfleet.User, error) {
	u, found, err := s.user(ctx, "uid", accountID, uid)
	if err != nil {
		return rayfleet.User{}, fmt.Errorf("get user %s: %w", uid, err)
	}
	if !found {
		return rayfleet.User{}, notFound("user", uid)
	}
	return u, nil
}

// CreateAccessKey stores a new access key.
func (s *Store) CreateAccessKey(ctx context.Context, k rayfleet.AccessKey) error {
	_, err := s.exec(ctx, "INSERT INTO access_keys (id, account_id, user_uid, secret_sealed, status, create_time) VALUES (?, ?, ?, ?, ?, ?)",
		k.ID, k.AccountID, k.UserUID, blob(k.SecretSealed), k.Status, toMS(k.CreateTime))
	switch {
	case s.d.isUnique(err):
		return alreadyExists("access key", k.ID)
	case err != nil:
		return fmt.Errorf("create access key %s: %w", k.ID, err)
	}
	return nil
}

// GetAccessKey loads an access key by its id alone: it is how a request's
// account is found, so there is no account to scope by yet.
func (s *Store) GetAccessKey(ctx context.Context, id string) (rayfleet.AccessKey, error) {
	k := rayfleet.AccessKey{ID: id}
	var sealed []byte
	var ct int64
	found, err := s.row(ctx, "SELECT account_id, user_uid, secret_sealed, status, create_time FROM access_keys WHERE id = ?",
		[]any{id}, &k.AccountID, &k.UserUID, &sealed, &k.Status, &ct)
	if err != nil {
		return rayfleet.AccessKey{}, fmt.Errorf("get access key %s: %w", id, err)
	}
	if !found {
		return rayfleet.AccessKey{}, notFound("access key", id)
	}
	k.SecretSealed = copyBlob(sealed)
	k.CreateTime = fromMS(ct)
	return k, nil
}
