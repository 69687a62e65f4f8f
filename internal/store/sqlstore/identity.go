package sqlstore

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

const userCols = "uid, account_id, name, nickname, comments, root, create_time, update_time"

func scanUser(sc interface{ Scan(...any) error }) (rayfleet.User, error) {
	var u rayfleet.User
	var root, ct, ut int64
	if err := sc.Scan(&u.UID, &u.AccountID, &u.Name, &u.Nickname, &u.Comments, &root, &ct, &ut); err != nil {
		return rayfleet.User{}, err
	}
	u.Root = root != 0
	u.CreateTime, u.UpdateTime = fromMS(ct), fromMS(ut)
	return u, nil
}

// user loads one user of an account by uid or by name (by is the column).
func (s *Store) user(ctx context.Context, by, accountID, key string) (rayfleet.User, bool, error) {
	st, err := s.stmt(ctx, s.read, "SELECT "+userCols+" FROM users WHERE account_id = ? AND "+by+" = ?")
	if err != nil {
		return rayfleet.User{}, false, err
	}
	u, err := scanUser(st.QueryRowContext(ctx, accountID, key))
	if errors.Is(err, sql.ErrNoRows) {
		return rayfleet.User{}, false, nil
	}
	return u, err == nil, err
}

// GetUserByName loads a user of an account by name.
func (s *Store) GetUserByName(ctx context.Context, accountID, name string) (rayfleet.User, error) {
	u, found, err := s.user(ctx, "name", accountID, name)
	if err != nil {
		return rayfleet.User{}, fmt.Errorf("get user %s: %w", name, err)
	}
	if !found {
		return rayfleet.User{}, notFound("user", name)
	}
	return u, nil
}

// ListUsers returns an account's users, oldest first.
func (s *Store) ListUsers(ctx context.Context, accountID string) ([]rayfleet.User, error) {
	rows, err := s.query(ctx, "SELECT "+userCols+" FROM users WHERE account_id = ? ORDER BY create_time, uid", accountID)
	if err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.User
	for rows.Next() {
		u, err := scanUser(rows)
		if err != nil {
			return nil, fmt.Errorf("list users: %w", err)
		}
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list users: %w", err)
	}
	return out, nil
}

// forUpdate is what a SELECT inside a transaction adds to lock the rows it
// reads: PostgreSQL needs it; SQLite's write transactions already hold the
// database's write lock from BEGIN.
func (s *Store) forUpdate() string {
	if s.d.name == "postgres" {
		return " FOR UPDATE"
	}
	return ""
}

// UpdateUser reads a user, lets fn change it and writes it back.
func (s *Store) UpdateUser(ctx context.Context, accountID, uid string, fn func(*rayfleet.User) error) (_ rayfleet.User, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return rayfleet.User{}, fmt.Errorf("update user %s: %w", uid, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	u, err := scanUser(tx.QueryRowContext(ctx, s.d.rebind("SELECT "+userCols+" FROM users WHERE account_id = ? AND uid = ?"+s.forUpdate()), accountID, uid))
	if errors.Is(err, sql.ErrNoRows) {
		return rayfleet.User{}, notFound("user", uid)
	}
	if err != nil {
		return rayfleet.User{}, fmt.Errorf("update user %s: %w", uid, err)
	}
	if err := fn(&u); err != nil {
		return rayfleet.User{}, err
	}
	_, err = s.txExec(ctx, tx, "UPDATE users SET name = ?, nickname = ?, comments = ?, update_time = ? WHERE account_id = ? AND uid = ?",
		u.Name, u.Nickname, u.Comments, toMS(u.UpdateTime), accountID, uid)
	switch {
	case s.d.isUnique(err):
		return rayfleet.User{}, rayfleet.Errorf(rayfleet.EDENIED, "user %s already exists", u.Name)
	case err != nil:
		return rayfleet.User{}, fmt.Errorf("update user %s: %w", uid, err)
	}
	if err := tx.Commit(); err != nil {
		return rayfleet.User{}, fmt.Errorf("update user %s: commit: %w", uid, err)
	}
	return u, nil
}

// lockUser locks a user row for the rest of tx, so that attaching a policy
// and deleting the user take turns.
func (s *Store) lockUser(ctx context.Context, tx *sql.Tx, accountID, uid string) error {
	var got string
	err := tx.QueryRowContext(ctx, s.d.rebind("SELECT uid FROM users WHERE account_id = ? AND uid = ?"+s.forUpdate()), accountID, uid).Scan(&got)
	if errors.Is(err, sql.ErrNoRows) {
		return notFound("user", uid)
	}
	if err != nil {
		return fmt.Errorf("lock user %s: %w", uid, err)
	}
	return nil
}

// DeleteUser removes a user that holds no access key and no policy.
func (s *Store) DeleteUser(ctx context.Context, accountID, uid string) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete user %s: %w", uid, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := s.lockUser(ctx, tx, accountID, uid); err != nil {
		return err
	}
	var n int64
	for _, dep := range []struct{ table, what string }{{"access_keys", "access keys"}, {"user_policies", "attached policies"}} {
		if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM "+dep.table+" WHERE account_id = ? AND user_uid = ?"), accountID, uid).Scan(&n); err != nil {
			return fmt.Errorf("delete user %s: count %s: %w", uid, dep.table, err)
		}
		if n > 0 {
			return rayfleet.Errorf(rayfleet.EDENIED, "user %s still has %d %s; remove them first", uid, n, dep.what)
		}
	}
	if _, err := s.txExec(ctx, tx, "DELETE FROM users WHERE account_id = ? AND uid = ?", accountID, uid); err != nil {
		return fmt.Errorf("delete user %s: %w", uid, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete user %s: commit: %w", uid, err)
	}
	return nil
}

// ListAccessKeys returns a user's access keys, oldest first.
func (s *Store) ListAccessKeys(ctx context.Context, accountID, userUID string) ([]rayfleet.AccessKey, error) {
	rows, err := s.query(ctx, "SELECT id, secret_sealed, status, create_time FROM access_keys WHERE account_id = ? AND user_uid = ? ORDER BY create_time, id",
		accountID, userUID)
	if err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.AccessKey
	for rows.Next() {
		k := rayfleet.AccessKey{AccountID: accountID, UserUID: userUID}
		var sealed []byte
		var ct int64
		if err := rows.Scan(&k.ID, &sealed, &k.Status, &ct); err != nil {
			return nil, fmt.Errorf("list access keys: %w", err)
		}
		k.SecretSealed, k.CreateTime = copyBlob(sealed), fromMS(ct)
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list access keys: %w", err)
	}
	return out, nil
}

// SetAccessKeyStatus sets the status of one of a user's keys.
func (s *Store) SetAccessKeyStatus(ctx context.Context, accountID, userUID, id, status string) error {
	res, err := s.exec(ctx, "UPDATE access_keys SET status = ? WHERE account_id = ? AND user_uid = ? AND id = ?", status, accountID, userUID, id)
	if err != nil {
		return fmt.Errorf("update access key %s: %w", id, err)
	}
	return oneRow(res, "access key", id)
}

// DeleteAccessKey removes one of a user's keys.
func (s *Store) DeleteAccessKey(ctx context.Context, accountID, userUID, id string) error {
	res, err := s.exec(ctx, "DELETE FROM access_keys WHERE account_id = ? AND user_uid = ? AND id = ?", accountID, userUID, id)
	if err != nil {
		return fmt.Errorf("delete access key %s: %w", id, err)
	}
	return oneRow(res, "access key", id)
}

// oneRow turns a write that matched no row into not-found.
func oneRow(res sql.Result, kind, id string) error {
	n, err := affected(res)
	if err != nil {
		return err
	}
	if n == 0 {
		return notFound(kind, id)
	}
	return nil
}

// CreatePolicy stores a custom policy with its first version.
func (s *Store) CreatePolicy(ctx context.Context, p rayfleet.Policy, document string) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("create policy %s: %w", p.Name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	_, err = s.txExec(ctx, tx, "INSERT INTO policies (account_id, name, description, default_version, next_version, create_time, update_time) VALUES (?, ?, ?, ?, ?, ?, ?)",
		p.AccountID, p.Name, p.Description, "v1", 2, toMS(p.CreateTime), toMS(p.UpdateTime))
	switch {
	case s.d.isUnique(err):
		return alreadyExists("policy", p.Name)
	case err != nil:
		return fmt.Errorf("create policy %s: %w", p.Name, err)
	}
	if _, err := s.txExec(ctx, tx, "INSERT INTO policy_versions (account_id, policy_name, version_id, version_no, document, create_time) VALUES (?, ?, ?, ?, ?, ?)",
		p.AccountID, p.Name, "v1", 1, document, toMS(p.CreateTime)); err != nil {
		return fmt.Errorf("create policy %s: version: %w", p.Name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("create policy %s: commit: %w", p.Name, err)
	}
	return nil
}

const policyCols = `p.account_id, p.name, p.description, p.default_version, p.create_time, p.update_time,
	(SELECT count(*) FROM user_policies a WHERE a.account_id = p.account_id AND a.policy_type = 'Custom' AND a.policy_name = p.name)`

func scanPolicy(sc interface{ Scan(...any) error }) (rayfleet.Policy, error) {
	var p rayfleet.Policy
	var ct, ut, n int64
	if err := sc.Scan(&p.AccountID, &p.Name, &p.Description, &p.DefaultVersion, &ct, &ut, &n); err != nil {
		return rayfleet.Policy{}, err
	}
	p.CreateTime, p.UpdateTime, p.AttachmentCount = fromMS(ct), fromMS(ut), int(n)
	return p, nil
}

// GetPolicy loads a custom policy.
func (s *Store) GetPolicy(ctx context.Context, accountID, name string) (rayfleet.Policy, error) {
	st, err := s.stmt(ctx, s.read, "SELECT "+policyCols+" FROM policies p WHERE p.account_id = ? AND p.name = ?")
	if err != nil {
		return rayfleet.Policy{}, fmt.Errorf("get policy %s: %w", name, err)
	}
	p, err := scanPolicy(st.QueryRowContext(ctx, accountID, name))
	if errors.Is(err, sql.ErrNoRows) {
		return rayfleet.Policy{}, notFound("policy", name)
	}
	if err != nil {
		return rayfleet.Policy{}, fmt.Errorf("get policy %s: %w", name, err)
	}
	return p, nil
}

// ListPolicies returns an account's custom policies by name.
func (s *Store) ListPolicies(ctx context.Context, accountID string) ([]rayfleet.Policy, error) {
	rows, err := s.query(ctx, "SELECT "+policyCols+" FROM policies p WHERE p.account_id = ? ORDER BY p.name", accountID)
	if err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.Policy
	for rows.Next() {
		p, err := scanPolicy(rows)
		if err != nil {
			return nil, fmt.Errorf("list policies: %w", err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list policies: %w", err)
	}
	return out, nil
}

// lockPolicy locks a policy row for the rest of tx and returns its default
// version and next version number.
func (s *Store) lockPolicy(ctx context.Context, tx *sql.Tx, accountID, name string) (def string, next int64, err error) {
	err = tx.QueryRowContext(ctx, s.d.rebind("SELECT default_version, next_version FROM policies WHERE account_id = ? AND name = ?"+s.forUpdate()),
		accountID, name).Scan(&def, &next)
	if errors.Is(err, sql.ErrNoRows) {
		return "", 0, notFound("policy", name)
	}
	if err != nil {
		return "", 0, fmt.Errorf("lock policy %s: %w", name, err)
	}
	return def, next, nil
}

// DeletePolicy removes a custom policy that no user holds.
func (s *Store) DeletePolicy(ctx context.Context, accountID, name string) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("delete policy %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if _, _, err := s.lockPolicy(ctx, tx, accountID, name); err != nil {
		return err
	}
	var n int64
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM user_policies WHERE account_id = ? AND policy_type = 'Custom' AND policy_name = ?"),
		accountID, name).Scan(&n); err != nil {
		return fmt.Errorf("delete policy %s: %w", name, err)
	}
	if n > 0 {
		return rayfleet.Errorf(rayfleet.EDENIED, "policy %s is attached to %d users; detach it first", name, n)
	}
	ex := s.inTx(tx)
	if _, err := ex(ctx, "DELETE FROM policy_versions WHERE account_id = ? AND policy_name = ?", accountID, name); err != nil {
		return fmt.Errorf("delete policy %s: versions: %w", name, err)
	}
	if _, err := ex(ctx, "DELETE FROM policies WHERE account_id = ? AND name = ?", accountID, name); err != nil {
		return fmt.Errorf("delete policy %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("delete policy %s: commit: %w", name, err)
	}
	return nil
}

// CreatePolicyVersion adds the next version of a policy.
func (s *Store) CreatePolicyVersion(ctx context.Context, accountID, name, document string, setDefault, rotate bool, now time.Time) (_ rayfleet.PolicyVersion, err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return rayfleet.PolicyVersion{}, fmt.Errorf("create version of policy %s: %w", name, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	def, next, err := s.lockPolicy(ctx, tx, accountID, name)
	if err != nil {
		return rayfleet.PolicyVersion{}, err
	}
	var n int64
	if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT count(*) FROM policy_versions WHERE account_id = ? AND policy_name = ?"),
		accountID, name).Scan(&n); err != nil {
		return rayfleet.PolicyVersion{}, fmt.Errorf("create version of policy %s: %w", name, err)
	}
	ex := s.inTx(tx)
	if n >= rayfleet.MaxPolicyVersions {
		if !rotate {
			return rayfleet.PolicyVersion{}, rayfleet.Errorf(rayfleet.EDENIED, "policy %s already has %d versions, the most it may have; delete one or rotate", name, n)
		}
		var oldest string
		if err := tx.QueryRowContext(ctx, s.d.rebind("SELECT version_id FROM policy_versions WHERE account_id = ? AND policy_name = ? AND version_id <> ? ORDER BY version_no LIMIT 1"),
			accountID, name, def).Scan(&oldest); err != nil {
			return rayfleet.PolicyVersion{}, fmt.Errorf("create version of policy %s: oldest: %w", name, err)
		}
		if _, err := ex(ctx, "DELETE FROM policy_versions WHERE account_id = ? AND policy_name = ? AND version_id = ?", accountID, name, oldest); err != nil {
			return rayfleet.PolicyVersion{}, fmt.Errorf("create version of policy %s: rotate: %w", name, err)
		}
	}
	v := rayfleet.PolicyVersion{AccountID: accountID, PolicyName: name, VersionID: "v" + strconv.FormatInt(next, 10), Document: document, CreateTime: now}
	if _, err := ex(ctx, "INSERT INTO policy_versions (account_id, policy_name, version_id, version_no, document, create_time) VALUES (?, ?, ?, ?, ?, ?)",
		accountID, name, v.VersionID, next, document, toMS(now)); err != nil {
		return rayfleet.PolicyVersion{}, fmt.Errorf("create version of policy %s: %w", name, err)
	}
	if setDefault {
		def = v.VersionID
	}
	if _, err := ex(ctx, "UPDATE policies SET next_version = ?, default_version = ?, update_time = ? WHERE account_id = ? AND name = ?",
		next+1, def, toMS(now), accountID, name); err != nil {
		return rayfleet.PolicyVersion{}, fmt.Errorf("create version of policy %s: %w", name, err)
	}
	if err := tx.Commit(); err != nil {
		return rayfleet.PolicyVersion{}, fmt.Errorf("create version of policy %s: commit: %w", name, err)
	}
	return v, nil
}

// ListPolicyVersions returns a custom policy's versions, oldest first.
func (s *Store) ListPolicyVersions(ctx context.Context, accountID, name string) ([]rayfleet.PolicyVersion, error) {
	rows, err := s.query(ctx, "SELECT version_id, document, create_time FROM policy_versions WHERE account_id = ? AND policy_name = ? ORDER BY version_no",
		accountID, name)
	if err != nil {
		return nil, fmt.Errorf("list versions of policy %s: %w", name, err)
	}
	defer rows.Close()
	var out []rayfleet.PolicyVersion
	for rows.Next() {
		v := rayfleet.PolicyVersion{AccountID: accountID, PolicyName: name}
		var ct int64
		if err := rows.Scan(&v.VersionID, &v.Document, &ct); err != nil {
			return nil, fmt.Errorf("list versions of policy %s: %w", name, err)
		}
		v.CreateTime = fromMS(ct)
		out = append(out, v)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list versions of policy %s: %w", name, err)
	}
	if len(out) == 0 {
		return nil, notFound("policy", name)
	}
	return out, nil
}

// AttachPolicy attaches a policy to a user of the same account.
func (s *Store) AttachPolicy(ctx context.Context, a rayfleet.PolicyAttachment) (err error) {
	tx, err := s.write.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("attach policy %s: %w", a.PolicyName, err)
	}
	defer func() {
		if err != nil {
			_ = tx.Rollback()
		}
	}()
	if err := s.lockUser(ctx, tx, a.AccountID, a.UserUID); err != nil {
		return err
	}
	switch a.PolicyType {
	case rayfleet.PolicyCustom:
		if _, _, err := s.lockPolicy(ctx, tx, a.AccountID, a.PolicyName); err != nil {
			return err
		}
	case rayfleet.PolicySystem:
	default:
		return rayfleet.Errorf(rayfleet.EINVALID, "policy type must be Custom or System, got %q", a.PolicyType)
	}
	_, err = s.txExec(ctx, tx, "INSERT INTO user_policies (account_id, user_uid, policy_type, policy_name, attach_time) VALUES (?, ?, ?, ?, ?)",
		a.AccountID, a.UserUID, a.PolicyType, a.PolicyName, toMS(a.AttachTime))
	switch {
	case s.d.isUnique(err):
		return rayfleet.Errorf(rayfleet.EDENIED, "policy %s is already attached to user %s", a.PolicyName, a.UserUID)
	case err != nil:
		return fmt.Errorf("attach policy %s: %w", a.PolicyName, err)
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("attach policy %s: commit: %w", a.PolicyName, err)
	}
	return nil
}

// DetachPolicy detaches a policy from a user.
func (s *Store) DetachPolicy(ctx context.Context, accountID, userUID, policyType, policyName string) error {
	res, err := s.exec(ctx, "DELETE FROM user_policies WHERE account_id = ? AND user_uid = ? AND policy_type = ? AND policy_name = ?",
		accountID, userUID, policyType, policyName)
	if err != nil {
		return fmt.Errorf("detach policy %s: %w", policyName, err)
	}
	return oneRow(res, "policy attachment", policyName)
}

// ListAttachments returns matching attachments with their custom policies'
// default documents, in one query: authorization reads it on every call.
func (s *Store) ListAttachments(ctx context.Context, f store.AttachmentFilter) ([]rayfleet.PolicyAttachment, error) {
	var where strings.Builder
	args := []any{f.AccountID}
	where.WriteString("a.account_id = ?")
	for _, c := range []struct{ col, v string }{{"a.user_uid", f.UserUID}, {"a.policy_type", f.PolicyType}, {"a.policy_name", f.PolicyName}} {
		if c.v != "" {
			where.WriteString(" AND " + c.col + " = ?")
			args = append(args, c.v)
		}
	}
	rows, err := s.query(ctx, `SELECT a.user_uid, a.policy_type, a.policy_name, a.attach_time,
			COALESCE(p.description, ''), COALESCE(p.default_version, ''), COALESCE(v.document, '')
		FROM user_policies a
		LEFT JOIN policies p ON a.policy_type = 'Custom' AND p.account_id = a.account_id AND p.name = a.policy_name
		LEFT JOIN policy_versions v ON v.account_id = p.account_id AND v.policy_name = p.name AND v.version_id = p.default_version
		WHERE `+where.String()+` ORDER BY a.attach_time, a.user_uid, a.policy_type, a.policy_name`, args...)
	if err != nil {
		return nil, fmt.Errorf("list policy attachments: %w", err)
	}
	defer rows.Close()
	var out []rayfleet.PolicyAttachment
	for rows.Next() {
		a := rayfleet.PolicyAttachment{AccountID: f.AccountID}
		var at int64
		if err := rows.Scan(&a.UserUID, &a.PolicyType, &a.PolicyName, &at, &a.Description, &a.DefaultVersion, &a.Document); err != nil {
			return nil, fmt.Errorf("list policy attachments: %w", err)
		}
		a.AttachTime = fromMS(at)
		out = append(out, a)
	}
	if err := rows.Err(); err != nil {
		return nil, fmt.Errorf("list policy attachments: %w", err)
	}
	return out, nil
}
