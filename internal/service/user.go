package service

import (
	"context"
	"fmt"

	"github.com/rayfleet/rayfleet"
	"github.com/rayfleet/rayfleet/internal/store"
)

// userByName loads a user of the caller's account; a missing one (or one of
// another account) is EntityNotExist.User.
func (s *Service) userByName(ctx context.Context, p rayfleet.Principal, name string) (rayfleet.User, error) {
	u, err := s.Store.GetUserByName(ctx, p.AccountID, name)
	if rayfleet.IsNotFound(err) {
		return u, rayfleet.Errorf(ERAMNoUser, "The user %s does not exist.", name)
	}
	return u, err
}

// UserInput is CreateUser's parameters.
type UserInput struct {
	Name        string
	DisplayName string
	Comments    string
}

// CreateUser adds a RAM user to the caller's account.
func (s *Service) CreateUser(ctx context.Context, p rayfleet.Principal, in UserInput) (rayfleet.User, error) {
	if err := s.authorizeRAM(ctx, p, "CreateUser", ramResource(p, "user", in.Name)); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkUserName("UserName", in.Name); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkLength("DisplayName", in.DisplayName, 128); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkLength("Comments", in.Comments, 128); err != nil {
		return rayfleet.User{}, err
	}
	if in.DisplayName == "" {
		in.DisplayName = in.Name
	}
	uid, err := s.newUserUID()
	if err != nil {
		return rayfleet.User{}, err
	}
	now := s.now()
	u := rayfleet.User{UID: uid, AccountID: p.AccountID, Name: in.Name, Nickname: in.DisplayName, Comments: in.Comments, CreateTime: now, UpdateTime: now}
	if err := s.Store.CreateUser(ctx, u); err != nil {
		if rayfleet.ErrorCode(err) == rayfleet.EDENIED {
			return rayfleet.User{}, rayfleet.Errorf(ERAMUserExists, "The user %s already exists.", in.Name)
		}
		return rayfleet.User{}, fmt.Errorf("create user: %w", err)
	}
	return u, nil
}

// GetUser returns a user of the caller's account.
func (s *Service) GetUser(ctx context.Context, p rayfleet.Principal, name string) (rayfleet.User, error) {
	if err := s.authorizeRAM(ctx, p, "GetUser", ramResource(p, "user", name)); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkUserName("UserName", name); err != nil {
		return rayfleet.User{}, err
	}
	return s.userByName(ctx, p, name)
}

// ListUsers lists the caller's account's users, oldest first.
func (s *Service) ListUsers(ctx context.Context, p rayfleet.Principal, pg Page) ([]rayfleet.User, string, error) {
	if err := s.authorizeRAM(ctx, p, "ListUsers", ramResource(p, "user", "*")); err != nil {
		return nil, "", err
	}
	us, err := s.Store.ListUsers(ctx, p.AccountID)
	if err != nil {
		return nil, "", err
	}
	from, to, next, err := pg.cut(len(us))
	if err != nil {
		return nil, "", err
	}
	return us[from:to], next, nil
}

// UpdateUserInput is UpdateUser's parameters; nil leaves a field as it is.
type UpdateUserInput struct {
	Name           string
	NewName        *string
	NewDisplayName *string
	NewComments    *string
}

// UpdateUser renames a user or changes its display name or comments.
func (s *Service) UpdateUser(ctx context.Context, p rayfleet.Principal, in UpdateUserInput) (rayfleet.User, error) {
	if err := s.authorizeRAM(ctx, p, "UpdateUser", ramResource(p, "user", in.Name)); err != nil {
		return rayfleet.User{}, err
	}
	if err := checkUserName("UserName", in.Name); err != nil {
		return rayfleet.User{}, err
	}
	if in.NewName != nil {
		if err := checkUserName("NewUserName", *in.NewName); err != nil {
			return rayfleet.User{}, err
		}
	}
	if in.NewDisplayName != nil {
		if err := checkLength("NewDisplayName", *in.NewDisplayName, 128); err != nil {
			return rayfleet.User{}, err
		}
	}
	if in.NewComments != nil {
		if err := checkLength("NewComments", *in.NewComments, 128); err != nil {
			return rayfleet.User{}, err
		}
	}
	u, err := s.userByName(ctx, p, in.Name)
	if err != nil {
		return rayfleet.User{}, err
	}
	now := s.now()
	u, err = s.Store.UpdateUser(ctx, p.AccountID, u.UID, func(u *rayfleet.User) error {
		if in.NewName != nil {
			u.Name = *in.NewName
		}
		if in.NewDisplayName != nil && *in.NewDisplayName != "" {
			u.Nickname = *in.NewDisplayName
		}
		if in.NewComments != nil {
			u.Comments = *in.NewComments
		}
		u.UpdateTime = now
		return nil
	})
	switch {
	case rayfleet.IsNotFound(err):
		return rayfleet.User{}, rayfleet.Errorf(ERAMNoUser, "The user %s does not exist.", in.Name)
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		return rayfleet.User{}, rayfleet.Errorf(ERAMUserExists, "The user %s already exists.", *in.NewName)
	case err != nil:
		return rayfleet.User{}, fmt.Errorf("update user: %w", err)
	}
	// The user's name and nickname are in cached principals.
	s.auths.clear()
	return u, nil
}

// DeleteUser removes a RAM user that holds no access key and no policy.
// The root user stays.
func (s *Service) DeleteUser(ctx context.Context, p rayfleet.Principal, name string) error {
	if err := s.authorizeRAM(ctx, p, "DeleteUser", ramResource(p, "user", name)); err != nil {
		return err
	}
	if err := checkUserName("UserName", name); err != nil {
		return err
	}
	u, err := s.userByName(ctx, p, name)
	if err != nil {
		return err
	}
	if u.Root {
		return rayfleet.Errorf(rayfleet.EDENIED, "The account's root user %s cannot be deleted.", name)
	}
	keys, err := s.Store.ListAccessKeys(ctx, p.AccountID, u.UID)
	if err != nil {
		return fmt.Errorf("list access keys: %w", err)
	}
	if len(keys) > 0 {
		return rayfleet.Errorf(ERAMUserHasKeys, "The user %s still has %d access keys; delete them first.", name, len(keys))
	}
	as, err := s.Store.ListAttachments(ctx, store.AttachmentFilter{AccountID: p.AccountID, UserUID: u.UID})
	if err != nil {
		return fmt.Errorf("list policies: %w", err)
	}
	if len(as) > 0 {
		return rayfleet.Errorf(ERAMUserHasPolicies, "The user %s still has %d policies attached; detach them first.", name, len(as))
	}
	err = s.Store.DeleteUser(ctx, p.AccountID, u.UID)
	switch {
	case rayfleet.IsNotFound(err):
		return rayfleet.Errorf(ERAMNoUser, "The user %s does not exist.", name)
	case rayfleet.ErrorCode(err) == rayfleet.EDENIED:
		// A key or policy was added since the checks above.
		return rayfleet.Errorf(ERAMUserHasKeys, "The user %s still has access keys or policies; remove them first.", name)
	case err != nil:
		return fmt.Errorf("delete user: %w", err)
	}
	s.policies.clear()
	s.revokeUser(p.AccountID, u.UID)
	return nil
}
