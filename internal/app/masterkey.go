package app

import (
	"context"
	"errors"
	"fmt"
	"io/fs"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/keyring"
	"github.com/rayfleet/rayfleet/internal/store"
)

// sealedSecrets is what openKeyring reads of the store to find a secret
// sealed under the master key.
type sealedSecrets interface {
	ListAccounts(ctx context.Context) ([]rayfleet.Account, error)
	ListUsers(ctx context.Context, accountID string) ([]rayfleet.User, error)
	ListAccessKeys(ctx context.Context, accountID, userUID string) ([]rayfleet.AccessKey, error)
	ListClusterRefs(ctx context.Context) ([]store.ClusterRef, error)
	GetClusterAny(ctx context.Context, accountID, workspaceID, id string) (rayfleet.Cluster, error)
}

// openKeyring loads the master key at path, and creates one only when the
// database holds no secret sealed under an earlier key: a new key beside
// such a database would make every access key secret and cluster token in
// it unreadable, so a missing key file is refused with what it seals. A key
// that does not open the database's secrets (another server's, say) is
// refused too, rather than failing every request signed with them.
func openKeyring(ctx context.Context, path string, st sealedSecrets) (*keyring.Keyring, error) {
	what, sealed, err := findSealed(ctx, st)
	if err != nil {
		return nil, fmt.Errorf("look for secrets sealed under the master key: %w", err)
	}
	keys, err := keyring.Load(path)
	switch {
	case errors.Is(err, fs.ErrNotExist) && sealed == nil:
		return keyring.Create(path)
	case errors.Is(err, fs.ErrNotExist):
		return nil, fmt.Errorf("master key %s is missing, but the database holds secrets sealed under it (%s): "+
			"restore master.key from a backup of this data directory (every server on one database uses the same master.key); "+
			"starting with a new key would make them all unreadable", path, what)
	case err != nil:
		return nil, err
	}
	if sealed != nil {
		if _, err := keys.Open(sealed); err != nil {
			return nil, fmt.Errorf("master key %s does not open the secrets in the database (%s): it is not the key they were sealed under; "+
				"restore the right master.key (every server on one database uses the same one)", path, what)
		}
	}
	return keys, nil
}

// findSealed returns one secret sealed under the master key and what it
// is, or nil when the database holds none: the access keys of the accounts
// first (every account gets one at its creation), then cluster tokens.
// Keys of users whose account row was never written (a first start that
// crashed halfway) are inert: nobody ever learnt their secret.
func findSealed(ctx context.Context, st sealedSecrets) (string, []byte, error) {
	accts, err := st.ListAccounts(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, a := range accts {
		users, err := st.ListUsers(ctx, a.ID)
		if err != nil {
			return "", nil, err
		}
		for _, u := range users {
			keys, err := st.ListAccessKeys(ctx, a.ID, u.UID)
			if err != nil {
				return "", nil, err
			}
			for _, k := range keys {
				if len(k.SecretSealed) > 0 {
					return fmt.Sprintf("the secret of access key %s of account %s", k.ID, a.ID), k.SecretSealed, nil
				}
			}
		}
	}
	refs, err := st.ListClusterRefs(ctx)
	if err != nil {
		return "", nil, err
	}
	for _, ref := range refs {
		c, err := st.GetClusterAny(ctx, ref.AccountID, ref.WorkspaceID, ref.ID)
		if rayfleet.IsNotFound(err) {
			continue
		}
		if err != nil {
			return "", nil, err
		}
		if len(c.TokenSealed) > 0 {
			return "the access token of cluster " + c.ID, c.TokenSealed, nil
		}
	}
	return "", nil, nil
}
